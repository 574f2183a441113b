"""A fake Calls API provider to test against: a real HTTP server on 127.0.0.1.

::

    from callstate.testing.fake_provider import Chaos, FakeProvider

    with FakeProvider(outcome="busy", chaos=Chaos(seed=7, duplicate=0.3)) as provider:
        profile = provider.profile("api19")     # point a client at it
        ...
        provider.wait_idle()                    # every callback sent
        provider.true_outcome(call_sid)         # "busy": compare with your record

It implements create, list (with paging; a page past the end is a 400),
fetch, modify and (Twilio's) delete with Basic auth, each API as its
provider documents: under ``/2010-04-01`` as Twilio (RFC 2822 times,
``Twiml`` and ``ApplicationSid``, Twilio's error codes, 400 with code 21220
for a call that is over), under ``/restcomm/2012-04-24`` and
``/call/2012-04-24`` as Restcomm (ISO 8601 start and end times, ``Url``
required, 410 for a call that is over, no DELETE). ``Status=canceled`` ends
a call queued or ringing and does nothing to one in progress;
``Status=completed`` ends a live call in any state. It plays each call's
lifecycle to its outcome (fixed, queued with ``queue_outcomes``, or drawn
under the seed); sends status callbacks to
``StatusCallback`` by POST or GET in the ``twilio`` or ``restcomm``
vocabulary, with seeded ``Chaos``; and answers the next requests badly on
demand (``inject(Fault(...))``).
"""

from callstate.testing._fake_plan import OUTCOMES, Chaos
from callstate.testing._fake_server import FakeCall, FakeProvider, Fault, Fetch, SentCallback

__all__ = ["OUTCOMES", "Chaos", "FakeCall", "FakeProvider", "Fault", "Fetch", "SentCallback"]
