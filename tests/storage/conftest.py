"""The storage suite runs against every Redis deployment `--redis-topologies` names: one
node, a Redis Cluster, and a primary under Sentinel."""

from __future__ import annotations

import pytest

from tests.redis_topologies import Topology, selected_topologies


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "topologies(*names): run the test only on these of the selected Redis deployments "
        "(a test of what only a Cluster, or only a replica, has)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "redis_server" in metafunc.fixturenames:
        names = selected_topologies(metafunc.config)
        only = metafunc.definition.get_closest_marker("topologies")
        if only is not None:
            names = [name for name in names if name in only.args]
        metafunc.parametrize("redis_server", names, indirect=True, scope="session")


@pytest.fixture(scope="session")
def redis_server(request: pytest.FixtureRequest) -> Topology:
    """The deployment of this run of the test: the suite's single node, or a Cluster or a
    Sentinel set-up of the run's own."""
    fixture = {"single": "redis_single", "cluster": "redis_cluster", "sentinel": "redis_sentinel"}
    topology: Topology = request.getfixturevalue(fixture[request.param])
    return topology
