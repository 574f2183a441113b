"""The ``callstate`` command line and what only its commands need.

- ``_cli``: the parser and the commands (``replay``, ``calls``, ``serve``,
  ``reconcile``, ``demo``, ``diagram``); ``python -m callstate`` and the
  ``callstate`` script both run ``_cli.main``.
- ``_store_replay``: ``replay --store``, idempotent replay into a store.
- ``_diagram``: the state machine drawn from its one definition
  (``callstate.state_diagram``).
- ``_demo``: ``callstate demo``, which drives the fake provider.

The store a command names (``--store``) is read by
``callstate.stores._open``, and a call state's JSON is ``callstate._core._report``'s:
both shared with ``callstate serve``. Nothing here is
imported by ``import callstate`` but ``_diagram``: this package stays light.
"""

__all__: list[str] = []
