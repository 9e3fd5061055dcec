from station.polling.policy import FingerPlan, face_matches, fingerprint_matches, quality_retry_reason


def test_finger_plan_walks_fingers_in_order():
    plan = FingerPlan(("right_thumb", "left_thumb"), attempts_per_finger=2)
    assert plan.total_attempts == 4
    assert [plan.next_finger(i) for i in range(5)] == ["right_thumb", "right_thumb", "left_thumb", "left_thumb", None]
    assert FingerPlan((), 2).next_finger(0) is None


def test_thresholds_are_inclusive_in_the_right_direction():
    assert fingerprint_matches(40, 40) and not fingerprint_matches(39.9, 40)
    assert face_matches(0.5, 0.5) and not face_matches(0.5001, 0.5)


def test_nfiq2_zero_is_unknown_not_bad():
    assert quality_retry_reason(0, 20) is None
    assert quality_retry_reason(25, 20) is None
    assert "NFIQ2 12 < 20" in quality_retry_reason(12, 20)
