"""Policy loading: the default policy is valid; each mistake names the field to fix."""

from __future__ import annotations

import pytest
import yaml

from tests.support import POLICY_PATH
from transforms.config.policy import load_policy
from transforms.errors import PolicyError


def _write(tmp_path, mutate):
    data = yaml.safe_load(POLICY_PATH.read_text())
    mutate(data)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    (tmp_path / "reference").mkdir(exist_ok=True)
    (tmp_path / "reference" / "geo_cities.csv").write_text(
        (POLICY_PATH.parent / "reference" / "geo_cities.csv").read_text()
    )
    return path


def test_default_policy_loads(policy):
    assert policy.export == "viewing_sessions"
    assert policy.published_columns[0] == "viewer_id"
    assert policy.digest.startswith("sha256:")


def test_unclassified_raw_column_is_named(tmp_path):
    path = _write(tmp_path, lambda d: d["columns"].pop("email"))
    with pytest.raises(PolicyError, match=r"\['email'\] are not classified"):
        load_policy(path)


def test_unknown_level_name_is_refused_at_load_listing_choices(tmp_path):
    def bad(d):
        d["quasi_identifiers"][0]["min_level"] = "7y"

    with pytest.raises(PolicyError, match=r"level '7y' does not exist; choose one of \['value', '5y'"):
        load_policy(_write(tmp_path, bad))


def test_min_level_above_max_level_is_refused_at_load(tmp_path):
    def bad(d):
        d["quasi_identifiers"][3]["min_level"] = "country"
        d["quasi_identifiers"][3]["max_level"] = "city"

    with pytest.raises(PolicyError, match="min_level is above max_level"):
        load_policy(_write(tmp_path, bad))


def test_unknown_kind_is_refused(tmp_path):
    with pytest.raises(PolicyError, match="kind"):
        load_policy(_write(tmp_path, lambda d: d.__setitem__("kind", "cubes")))


def test_k_below_two_is_refused(tmp_path):
    with pytest.raises(PolicyError, match=r"privacy\.k"):
        load_policy(_write(tmp_path, lambda d: d["privacy"].__setitem__("k", 1)))


def test_bad_regex_is_reported(tmp_path):
    def bad(d):
        d["quasi_identifiers"][4]["hierarchy"]["rules"][0]["match"] = "(unclosed"

    with pytest.raises(PolicyError, match="invalid regular expression"):
        load_policy(_write(tmp_path, bad))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.yaml")


def test_email_can_never_be_kept(tmp_path):
    with pytest.raises(PolicyError, match=r"columns\.email is a direct identifier: it may only be drop"):
        load_policy(_write(tmp_path, lambda d: d["columns"].__setitem__("email", "keep")))


def _ip_qi(min_level):
    qi = {"column": "ip_network", "source": ["ip_address"], "hierarchy": {"type": "ip_prefix"}}
    if min_level:
        qi["min_level"] = min_level
    return qi


def test_reduced_ip_needs_a_prefix_level(tmp_path):
    def reduce_without_floor(d):
        d["columns"]["ip_address"] = "reduce"
        d["quasi_identifiers"].append(_ip_qi(None))

    with pytest.raises(PolicyError, match="never the full value"):
        load_policy(_write(tmp_path, reduce_without_floor))

    def reduce_to_prefix(d):
        d["columns"]["ip_address"] = "reduce"
        d["quasi_identifiers"].append(_ip_qi("prefix_long"))

    assert "ip_network" in load_policy(_write(tmp_path, reduce_to_prefix)).qi_columns


def test_ip_prefix_labels():
    from transforms.privacy.hierarchies.ip_prefix import IpPrefixOperator

    op = IpPrefixOperator()
    assert op.labels("81.2.69.160") == ["81.2.69.160", "81.2.69.0/24", "81.2.0.0/16", "*"]
    assert op.labels("2001:db8:6fe3:ea8c::f812:14c7") == [
        "2001:db8:6fe3:ea8c::f812:14c7", "2001:db8:6fe3::/48", "2001:db8::/32", "*",
    ]  # fmt: skip
    assert op.labels("not-an-ip") == ["invalid", "invalid", "invalid", "*"]


def test_l_cannot_be_enforced_on_a_gated_column(tmp_path):
    def gated_l(d):
        d["privacy"]["sensitive"] = "title_id"
        d["privacy"]["l"] = 2

    with pytest.raises(PolicyError, match="rare-value gating"):
        load_policy(_write(tmp_path, gated_l))
