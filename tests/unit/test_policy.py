"""Policy loading: the default policy is valid; each mistake names the field to fix."""

from __future__ import annotations

import pytest
import yaml

from tests.support import POLICY_PATH
from transforms.config.policy import load_policy
from transforms.errors import PolicyError


def qi(data: dict, column: str) -> dict:
    return next(q for q in data["quasi_identifiers"] if q["column"] == column)


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
        qi(d, "age_band")["min_level"] = "7y"

    with pytest.raises(PolicyError, match=r"level '7y' does not exist; choose one of \['value', '5y'"):
        load_policy(_write(tmp_path, bad))


def test_min_level_above_max_level_is_refused_at_load(tmp_path):
    def bad(d):
        qi(d, "location")["min_level"] = "country"
        qi(d, "location")["max_level"] = "city"

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
        qi(d, "device_class")["hierarchy"]["rules"][0]["match"] = "(unclosed"

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
        "2001:db8:6fe3:ea8c::f812:14c7",
        "2001:db8:6fe3::/48",
        "2001:db8::/32",
        "*",
    ]
    assert op.labels("not-an-ip") == ["invalid", "invalid", "invalid", "*"]


def test_l_cannot_be_enforced_on_a_gated_column(tmp_path):
    def gated_l(d):
        d["columns"]["title_name"] = "keep"
        d["privacy"]["rare_values"] = [{"key": "title_name", "columns": ["title_name"]}]
        d["privacy"]["sensitive"] = "title_name"
        d["privacy"]["l"] = 2

    with pytest.raises(PolicyError, match="rare-value gating"):
        load_policy(_write(tmp_path, gated_l))


@pytest.mark.parametrize("m", [0, 6, -1])
def test_m_outside_one_to_five_is_refused(tmp_path, m):
    with pytest.raises(PolicyError, match="must be 1 to 5"):
        load_policy(_write(tmp_path, lambda d: d["privacy"]["history"].__setitem__("m", m)))


def test_a_longer_epoch_needs_history_protection(tmp_path):
    def week_without_history(d):
        d["pseudonym"]["epoch"] = "week"
        del d["privacy"]["history"]

    with pytest.raises(
        PolicyError, match=r"epoch 'week' links a person's plays across nights; it needs privacy\.history"
    ):
        load_policy(_write(tmp_path, week_without_history))
    with pytest.raises(PolicyError, match="too long a window"):
        load_policy(_write(tmp_path, lambda d: d["pseudonym"].__setitem__("epoch", "year")))
    assert (
        load_policy(_write(tmp_path, lambda d: d["pseudonym"].__setitem__("epoch", "week"))).pseudonym.epoch == "week"
    )


def test_the_shipped_policy_is_safe_by_default(policy):
    assert policy.pseudonym.epoch == "day"
    assert policy.privacy.k == 5 and policy.privacy.history.m == 2
    assert policy.privacy.history.title == "title_id"
    assert policy.published_columns[:4] == ["viewer_id", "title_id", "title_name", "content_type"]


def test_every_catalogue_column_must_be_classified(tmp_path):
    with pytest.raises(PolicyError, match=r"catalogue: columns \['genre'\] of the title catalogue are not classified"):
        load_policy(_write(tmp_path, lambda d: d["catalogue"].pop("genre")))


def test_history_names_must_be_quasi_identifiers(tmp_path):
    with pytest.raises(PolicyError, match=r"privacy.history names \['favourite_colour'\]"):
        load_policy(_write(tmp_path, lambda d: d["privacy"]["history"]["play"].append("favourite_colour")))


def test_a_companion_the_hierarchy_does_not_offer_is_refused(tmp_path):
    with pytest.raises(PolicyError, match=r"publish: \['genre'\] are not offered by its hierarchy"):
        load_policy(_write(tmp_path, lambda d: qi(d, "title_id")["publish"].append("genre")))


@pytest.mark.parametrize("name", ["pid", "_record"])
def test_the_engine_s_own_column_names_are_refused_as_pseudonym_column(tmp_path, name):
    with pytest.raises(PolicyError, match="reserved for the engine"):
        load_policy(_write(tmp_path, lambda d: d["pseudonym"].__setitem__("column", name)))


# --- aggregate policies (kind: aggregate) ---------------------------------------------------------

AGGREGATE_PATH = POLICY_PATH.parent / "title_audience.yaml"


def _write_aggregate(tmp_path, mutate):
    data = yaml.safe_load(AGGREGATE_PATH.read_text())
    mutate(data)
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(data))
    (tmp_path / "reference").mkdir(exist_ok=True)
    (tmp_path / "reference" / "geo_cities.csv").write_text(
        (POLICY_PATH.parent / "reference" / "geo_cities.csv").read_text()
    )
    return path


def test_the_shipped_aggregate_policy_loads_with_its_margins():
    p = load_policy(AGGREGATE_PATH)
    assert p.kind == "aggregate" and p.protection.min_viewers == 10 and p.protection.dominance == 0.5
    assert p.margin_list == [
        ("title_id", "location", "age_band"),
        ("title_id", "location"),
        ("title_id", "age_band"),
        ("title_id",),
        ("location",),
        ("age_band",),
        (),
    ]


def test_an_aggregate_margin_naming_an_unknown_dimension_is_refused(tmp_path):
    path = _write_aggregate(tmp_path, lambda d: d["margins"].append(["title_id", "device_class"]))
    with pytest.raises(PolicyError, match=r"margins: \['device_class'\] are not dimensions"):
        load_policy(path)


@pytest.mark.parametrize("threshold", [1, 0, -3])
def test_an_aggregate_threshold_below_two_is_refused(tmp_path, threshold):
    path = _write_aggregate(tmp_path, lambda d: d["protection"].update(min_viewers=threshold))
    with pytest.raises(PolicyError, match="min_viewers must be at least 2"):
        load_policy(path)


def test_a_measure_on_an_unclassified_column_is_refused(tmp_path):
    def mutate(d):
        d["measures"].append({"name": "device_hours", "kind": "sum_hours", "column": "device_model"})

    with pytest.raises(PolicyError, match=r"sums 'device_model', which is not a raw column classified `measure`"):
        load_policy(_write_aggregate(tmp_path, mutate))


def test_an_aggregate_publishes_no_raw_column(tmp_path):
    path = _write_aggregate(tmp_path, lambda d: d["columns"].update(device_model="keep"))
    with pytest.raises(PolicyError, match="an aggregate publishes no raw column"):
        load_policy(path)


def test_an_aggregate_dimension_needs_a_fixed_level(tmp_path):
    def mutate(d):
        d["dimensions"][2].pop("level")

    with pytest.raises(PolicyError, match="an aggregate publishes one fixed level"):
        load_policy(_write_aggregate(tmp_path, mutate))


def test_an_aggregate_needs_a_count_of_distinct_people(tmp_path):
    path = _write_aggregate(tmp_path, lambda d: d.update(measures=[{"name": "plays", "kind": "count"}]))
    with pytest.raises(PolicyError, match="one measure must count distinct people"):
        load_policy(path)


@pytest.mark.parametrize("m", [True, "3", 2.0])
def test_m_must_be_a_strict_integer(tmp_path, m):
    """YAML `m: true` is not 1 and `m: "3"` is not 3: a typo in the guarantee is refused, not coerced."""
    with pytest.raises(PolicyError, match=r"privacy\.history\.m: .*m must be a whole number from 1 to 5"):
        load_policy(_write(tmp_path, lambda d: d["privacy"]["history"].__setitem__("m", m)))


def test_minors_default_to_16_and_the_shipped_policies_say_what_happens_to_them(policy, tmp_path):
    assert (policy.minors.under, policy.minors.action) == (16, "drop")
    audience = load_policy(AGGREGATE_PATH)
    assert (audience.minors.under, audience.minors.action) == (16, "coarse")
    default = load_policy(_write(tmp_path, lambda d: d.pop("minors")))
    assert (default.minors.under, default.minors.action) == (16, "coarse")


def test_minors_coarse_never_publishes_a_band_of_minors_alone(tmp_path):
    def coarse(d):
        d["minors"] = {"under": 16, "action": "coarse"}

    p = load_policy(_write(tmp_path, coarse))
    h = p.hierarchies()["age_band"]
    for level in range(1, h.height - 1):
        labels = {h.labels(age)[level] for age in range(0, 16)}
        # Every age under 16 falls in one band, and someone of 16 or 17 falls in it too.
        assert labels == {"<18"} and h.labels(17)[level] == "<18"
    assert p.minors_band == "<18"


def test_minors_coarse_refuses_exact_ages_and_bands_that_end_below_the_age(tmp_path):
    def exact(d):
        d["minors"] = {"under": 16, "action": "coarse"}
        qi(d, "age_band")["min_level"] = "value"

    with pytest.raises(PolicyError, match="exact ages must never be published"):
        load_policy(_write(tmp_path, exact))

    def too_old(d):
        d["minors"] = {"under": 25, "action": "coarse"}
        qi(d, "age_band")["hierarchy"]["levels"][0]["bounds"] = [13, 18, 20]

    with pytest.raises(PolicyError, match="no bound above 25"):
        load_policy(_write(tmp_path, too_old))


def test_minors_action_must_be_drop_or_coarse(tmp_path):
    with pytest.raises(PolicyError, match=r"minors\.action"):
        load_policy(_write(tmp_path, lambda d: d.__setitem__("minors", {"under": 16, "action": "publish"})))
