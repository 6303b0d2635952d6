"""The PySide6 desktop app (``aist gui``). The core library never imports this package; this
package only calls the library (long jobs are core generators driven from worker threads)."""
