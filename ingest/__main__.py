"""Ingest: paths in, chunks out; exits 0 when every path has a committed row.

    paths (stdin / FPSTREAM_INPUT) ─► decode ─► PUSH chunks_in ──► broker ──► analyzers
                                  undecodable ─► PUSH results_in ─► broker ──► sink
    broker XPUB acks_out ──► SUB (topic = this ingest's id) ─► tracker: done, or re-send

One poll loop sends, one chunk at a time, while up to FPSTREAM_DECODE_THREADS
tracks decode at once, each on its own thread a couple of chunks ahead
(``ingest.decode_pool``); chunks of those tracks interleave on the wire. So
memory is a few chunks per decoding thread plus the socket queues (sized by
FPSTREAM_QUEUE_MB), and acks are heard between any two chunks. At most
FPSTREAM_MAX_IN_FLIGHT tracks are unacknowledged at once. Integer sources
travel as their integer samples (``iter_chunks(dtype="native")``), lossy ones
as float32.

Every chunk send is numbered (``seq``); the sink's receipts come back on the ack
channel and ``ingest.tracker`` decides which chunk is lost. A lost chunk is
decoded again on its own (``iter_chunks(first=index)`` seeks) and sent before
anything new. A send that the socket refuses (``zmq.Again``) is kept and tried
again, never dropped.

Nothing is sent until the broker answers and says an analyzer and the sink
are connected (``ingest.stack_check``); paths are read and counted
meanwhile. A stack that is not complete within FPSTREAM_STACK_WAIT_S is
reported by name and ingest exits 1; one that stops answering later is
reported when it happens.

``ingest.cli.main(argv)`` is also what ``fpstream feed`` runs.

Where each part lives (each short enough to read in one sitting):

    ingest.cli        the command line, signals, sockets opened and closed: ``main``
    ingest.settings   the settings (FPSTREAM_* and the options)
    ingest.loop       the Ingest class: the poll loop, the stack check, acks, progress, summary
    ingest.admission  what a path becomes: skipped, tags only, its (CUE) tracks, a kept row; the sweep
    ingest.sending    chunks numbered and sent, lost chunks re-sent, the messages without audio
    ingest.tracker    which track or chunk is lost and must be sent again
"""

from base import logs
from ingest.cli import main

if __name__ == "__main__":
    logs.run_main(main, "python -m ingest")
