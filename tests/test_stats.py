"""The one statistical rule (sngan_teach.stats), pinned on cases with known answers."""

import math

import pytest
from scipy import stats as st

from sngan_teach.stats import VERDICTS, compare, holm, welch


def test_welch_matches_scipy_and_its_interval_inverts_the_test():
    a, b = [1.0, 2.0, 4.0, 3.5, 2.2], [5.0, 6.5, 4.1]
    diff, low, high, p = welch(a, b)
    ref = st.ttest_ind(a, b, equal_var=False)
    assert diff == pytest.approx(sum(a) / 5 - sum(b) / 3)
    assert p == pytest.approx(ref.pvalue, rel=1e-12)
    ci = ref.confidence_interval(0.95)
    assert (low, high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    # the interval excludes 0 exactly when p < 0.05
    assert (high < 0) == (p < 0.05)


def test_welch_on_the_log_scale_compares_geometric_means():
    a, b = [10.0, 20.0, 40.0], [100.0, 200.0, 400.0]
    diff, _, _, p = welch(a, b, log=True)
    assert math.exp(diff) == pytest.approx(0.1)  # a's geometric mean is a tenth of b's
    assert p == pytest.approx(st.ttest_ind(*(list(map(math.log, x)) for x in (a, b)),
                                           equal_var=False).pvalue)  # fmt: skip


def test_holm_on_a_textbook_case():
    # sorted p 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5]) == [0.5]
    assert holm([0.6, 0.7]) == [1.0, 1.0]
    with pytest.raises(ValueError, match="p_values"):
        holm([0.1, 1.5])


def test_verdicts_are_symmetric_and_holm_can_undo_a_call():
    good, bad = [10.0, 11.0, 9.5, 10.2, 10.8], [30.0, 28.0, 35.0, 31.0, 29.5]
    one = compare({"x": (good, bad)}, log=True, lower_is_better=True)["x"]
    assert one.verdict == "better" and one.ratio < 1
    back = compare({"x": (bad, good)}, log=True, lower_is_better=True)["x"]
    assert back.verdict == "worse" and back.p == pytest.approx(one.p)
    assert compare({"x": (good, bad)}, log=True, lower_is_better=False)["x"].verdict == "worse"
    # a p of about 0.01 is a call alone, but not among ten comparisons with nothing in them
    a, b = [1.0, 2.0, 3.0, 2.5, 1.5, 2.0], [2.6, 3.4, 4.1, 3.0, 3.1, 2.9]
    alone = compare({"x": (a, b)}, log=False, lower_is_better=True)["x"]
    assert 0.005 < alone.p < 0.05 and alone.verdict == "better"
    family = {"x": (a, b)} | {f"null{i}": ([1.0, 2.0, 3.0], [1.1, 2.1, 2.9]) for i in range(9)}
    judged = compare(family, log=False, lower_is_better=True)
    assert judged["x"].verdict == "not resolved" and judged["x"].p_holm > 0.05
    assert {c.verdict for c in judged.values()} <= set(VERDICTS)
    assert "not resolved" in str(judged["x"])


def test_equal_groups_are_not_resolved_and_diverged_runs_need_a_worst_value():
    same = compare({"x": ([3.0, 4.0, 5.0], [3.0, 4.0, 5.0])}, log=False, lower_is_better=True)
    assert same["x"].verdict == "not resolved" and same["x"].p == pytest.approx(1.0)
    with pytest.raises(ValueError, match="worst"):
        welch([1.0, float("nan"), 2.0], [3.0, 4.0], log=True)
    diff, _, _, _ = welch([10.0, float("nan")], [10.0, 10.0 * math.e], log=True, worst=10.0)
    assert diff == pytest.approx(-0.5)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="at least 2"):
        welch([1.0], [2.0, 3.0])
    with pytest.raises(ValueError, match="> 0"):
        welch([1.0, 0.0], [2.0, 3.0], log=True)
    with pytest.raises(TypeError, match="a must"):
        welch("12", [2.0, 3.0])
    with pytest.raises(ValueError, match="pairs"):
        compare({}, log=False, lower_is_better=True)
    with pytest.raises(ValueError, match="alpha"):
        compare({"x": ([1, 2], [3, 4])}, log=False, lower_is_better=True, alpha=0)


def test_one_list_may_mix_scales_and_directions_and_holm_runs_over_all_of_it():
    fid_a, fid_b = [40.0, 45.0, 70.0], [130.0, 150.0, 170.0]
    acc_a, acc_b = [0.99, 0.98, 0.94], [0.86, 0.95, 0.85]
    mixed = compare({"fid": (fid_a, fid_b), "acc": (acc_a, acc_b)},
                    log={"fid": True, "acc": False},
                    lower_is_better={"fid": True, "acc": False})  # fmt: skip
    fid = compare({"fid": (fid_a, fid_b)}, log=True, lower_is_better=True)["fid"]
    acc = compare({"acc": (acc_a, acc_b)}, log=False, lower_is_better=False)["acc"]
    assert mixed["fid"].p == pytest.approx(fid.p) and mixed["acc"].p == pytest.approx(acc.p)
    assert mixed["fid"].ratio == pytest.approx(fid.ratio) and not mixed["acc"].log
    assert mixed["fid"].p_holm == pytest.approx(holm([fid.p, acc.p])[0])
    assert mixed["acc"].estimate > 0 and mixed["fid"].estimate < 0  # both favour a
    with pytest.raises(ValueError, match="log must name every comparison"):
        compare({"fid": (fid_a, fid_b), "acc": (acc_a, acc_b)}, log={"fid": True},
                lower_is_better=True)  # fmt: skip
    nan_b = [130.0, float("nan"), 170.0]
    counted = compare({"fid": (fid_a, nan_b), "acc": (acc_a, acc_b)}, log=True,
                      lower_is_better=True, worst={"fid": 500.0, "acc": None})  # fmt: skip
    assert counted["fid"].estimate < fid.estimate  # the diverged run counts as FID 500
