"""A stateful fake of the ForwardDialer service, for tests and demos without an account.

In-process, with no network::

    from voicenter_dialer.testing import FakeDialer

    fake = FakeDialer()
    campaign = fake.add_campaign("Sales")
    async with fake.client() as dialer:
        await dialer.add_call(campaign.code, Call("972501234567"))
    assert campaign.targets() == ["972501234567"]

Over real HTTP on loopback (uvicorn, the ``fake`` extra)::

    with serve(fake) as server:
        async with AsyncDialer(fake.account_code, base_url=server.base_url) as dialer:
            ...

In a process of its own, for load tests (:func:`spawn`); as pytest fixtures:
``voicenter_fake`` and ``voicenter_client`` (see :mod:`.pytest_plugin`).
Faults are injected with :class:`Faults`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicenter_dialer._lazy import lazy_names

if TYPE_CHECKING:
    from ._fake import MAX_BULK_RESULTS, Destination, FakeCampaign, FakeService
    from ._faults import Fault, Faults
    from ._http import FakeApp, FakeDialer, FakeTransport
    from ._server import FakeServer, SpawnedServer, bind, make_server, serve, spawn
else:
    # Imported on first use, as the package's own names are: the pytest plugin imports this
    # package in every pytest run where voicenter-dialer is installed, fixtures used or not.
    _LAZY: dict[str, str] = {
        "MAX_BULK_RESULTS": "_fake",
        "Destination": "_fake",
        "FakeCampaign": "_fake",
        "FakeService": "_fake",
        "Fault": "_faults",
        "Faults": "_faults",
        "FakeApp": "_http",
        "FakeDialer": "_http",
        "FakeTransport": "_http",
        "FakeServer": "_server",
        "SpawnedServer": "_server",
        "bind": "_server",
        "make_server": "_server",
        "serve": "_server",
        "spawn": "_server",
    }

    __getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


__all__ = [
    "MAX_BULK_RESULTS",
    "Destination",
    "FakeApp",
    "FakeCampaign",
    "FakeDialer",
    "FakeServer",
    "FakeService",
    "FakeTransport",
    "Fault",
    "Faults",
    "SpawnedServer",
    "bind",
    "make_server",
    "serve",
    "spawn",
]
