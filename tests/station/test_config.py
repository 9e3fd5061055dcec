import pytest

from station.config import load_config
from station.errors import ConfigError


def test_profiles_load(tmp_path):
    for profile in ("simulated", "hardware", "test"):
        config = load_config(profile, home=tmp_path, environ={})
        assert config.profile == profile
    assert load_config("simulated", home=tmp_path, environ={}).devices.simulation_api is True
    assert load_config("hardware", home=tmp_path, environ={}).devices.simulation_api is False


def test_default_database_is_sqlite_in_home(tmp_path):
    config = load_config("test", home=tmp_path, environ={})
    assert config.database_url == f"sqlite:///{tmp_path}/station.db"


def test_a_signed_in_browser_session_ends_after_30_idle_minutes_by_default(tmp_path):
    for profile in ("simulated", "hardware", "test"):  # an unattended screen: threat-model.md, "Sessions and tokens"
        assert load_config(profile, home=tmp_path, environ={}).server.session_idle_minutes == 30


def test_environment_overrides_single_keys(tmp_path):
    env = {"STATION_SERVER__PORT": "9123", "STATION_FINGERPRINT__FINGERS": '["left_index"]',
           "STATION_STATION__ID": "PS-XYZ", "STATION_HOME": str(tmp_path / "h")}
    config = load_config("test", environ=env)
    assert config.server.port == 9123
    assert config.fingerprint.fingers == ("left_index",)
    assert config.station.id == "PS-XYZ"
    assert config.home == tmp_path / "h"


def test_explicit_overrides_win(tmp_path):
    config = load_config("test", home=tmp_path, environ={"STATION_SERVER__PORT": "9000"},
                         overrides={"server": {"port": 9001}})
    assert config.server.port == 9001


@pytest.mark.parametrize("env, message", [
    ({"STATION_SERVER__PROT": "1"}, "unknown key server.prot"),
    ({"STATION_SERVR__PORT": "1"}, "unknown section"),
    ({"STATION_SERVER__PORT": "eighty"}, "bad value for server.port"),
    ({"STATION_SERVER__PORT": "70000"}, "bad value for server.port"),
    ({"STATION_FACE__ENABLED": "1"}, "bad value for face.enabled"),
    ({"STATION_FINGERPRINT__FINGERS": '["right_toe"]'}, "bad value for fingerprint.fingers"),
    ({"STATION_FACE__MATCH_THRESHOLD": "1.5"}, "bad value for face.match_threshold"),
    ({"STATION_SERVER__SESSION_IDLE_MINUTES": "0"}, "bad value for server.session_idle_minutes: must be >= 1"),
    ({"STATION_SERVER__SESSION_IDLE_MINUTES": "half"}, "bad value for server.session_idle_minutes"),
])
def test_bad_keys_and_values_name_the_key(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load_config("test", home=tmp_path, environ=env)


def test_missing_profile_is_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown profile 'nope'.*simulated"):
        load_config("nope", home=tmp_path, environ={})


def test_unknown_key_in_a_profile_file(tmp_path, monkeypatch):
    (tmp_path / "default.toml").write_text((__import__("station.config").config.config_dir() / "default.toml").read_text())
    (tmp_path / "broken.toml").write_text("[server]\nthreds = 3\n")
    monkeypatch.setenv("STATION_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="broken.toml: unknown key server.threds"):
        load_config("broken", home=tmp_path, environ={})


def test_station_local_file_overrides_the_profile_and_env_overrides_it(tmp_path):
    from station.config import write_local_overrides

    write_local_overrides(tmp_path, "fingerprint", {"bozorth3": {"match_threshold": 47.5}})
    write_local_overrides(tmp_path, "face", {"match_threshold": 0.48, "enabled": False})
    config = load_config("test", home=tmp_path, environ={})
    assert config.fingerprint.bozorth3.match_threshold == 47.5
    assert (config.face.match_threshold, config.face.enabled) == (0.48, False)
    env = {"STATION_FINGERPRINT__BOZORTH3": "{match_threshold = 50}"}
    assert load_config("test", home=tmp_path, environ=env).fingerprint.bozorth3.match_threshold == 50.0
    (tmp_path / "station.toml").write_text("[fingerprint]\nmatch_treshold = 1\n")
    with pytest.raises(ConfigError, match="unknown key fingerprint.match_treshold"):
        load_config("test", home=tmp_path, environ={})


def test_each_engine_has_its_own_thresholds_set_key_by_key(tmp_path):
    from station.config import write_local_overrides

    default = load_config("test", home=tmp_path, environ={}).fingerprint
    # one key of one engine's table: the others keep their defaults, the other engine is untouched
    write_local_overrides(tmp_path, "fingerprint", {"leader_mcc_bozorth3": {"score_per_decade": 0.25}})
    write_local_overrides(tmp_path, "fingerprint", {"leader_mcc_bozorth3": {"match_threshold": 1.5}})
    fp = load_config("test", home=tmp_path, environ={}).fingerprint
    assert (fp.leader_mcc_bozorth3.score_per_decade, fp.leader_mcc_bozorth3.match_threshold) == (0.25, 1.5)
    assert fp.leader_mcc_bozorth3.score_at_fmr_1e3 == default.leader_mcc_bozorth3.score_at_fmr_1e3
    assert fp.bozorth3 == default.bozorth3
    # the configured engine's section is the one decisions read
    fp = load_config("test", home=tmp_path, environ={"STATION_FINGERPRINT__MATCHER": "bozorth3"}).fingerprint
    assert fp.engine is fp.bozorth3
    (tmp_path / "station.toml").write_text("[fingerprint.bozorth3]\nmatch_treshold = 1\n")
    with pytest.raises(ConfigError, match="unknown key fingerprint.bozorth3.match_treshold"):
        load_config("test", home=tmp_path, environ={})
    (tmp_path / "station.toml").write_text("[fingerprint]\nbozorth3 = 3\n")
    with pytest.raises(ConfigError, match="fingerprint.bozorth3 must be a table"):
        load_config("test", home=tmp_path, environ={})
    with pytest.raises(ConfigError, match="unknown matcher 'afis'"):
        load_config("test", home=tmp_path / "x", environ={"STATION_FINGERPRINT__MATCHER": "afis"})
    with pytest.raises(ConfigError, match="fingerprint.bozorth3.score_per_decade"):
        load_config("test", home=tmp_path / "x", environ={"STATION_FINGERPRINT__BOZORTH3": "{score_per_decade = 0}"})


def test_a_decision_over_more_comparisons_takes_a_stricter_threshold(tmp_path):
    env = {"STATION_FINGERPRINT__MATCHER": "bozorth3",
           "STATION_FINGERPRINT__BOZORTH3": "{match_threshold = 40, score_at_fmr_1e3 = 30, score_per_decade = 6}",
           "STATION_FINGERPRINT__MAX_FALSE_ALARM_RATE": "0.001"}
    fp = load_config("test", home=tmp_path, environ=env).fingerprint
    # one comparison at FMR 0.1%: the tail's 0.1% point (30) is below the 1:1 threshold, which is the floor
    assert fp.threshold_for(1) == 40
    # 1,000 comparisons: each may false-match at ~1e-6 = three decades below 1e-3: 30 + 3 x 6 = 48
    assert fp.threshold_for(1000) == pytest.approx(48.0, abs=0.01)
    # a million: six decades: 66
    assert fp.threshold_for(1_000_000) == pytest.approx(66.0, abs=0.01)


def test_a_face_search_over_more_faces_takes_a_stricter_distance(tmp_path):
    env = {"STATION_FACE__MATCH_THRESHOLD": "0.52", "STATION_FACE__DISTANCE_AT_FMR_1E3": "0.55",
           "STATION_FACE__DISTANCE_PER_DECADE": "0.04"}
    face = load_config("test", home=tmp_path, environ=env).face
    # one face at FMR 0.1%: the tail's 0.55 is looser than the 1:1 distance, which caps it
    assert face.distance_for(1, 0.001) == 0.52
    # 1,000 roll faces: ~1e-6 per comparison, three decades below 1e-3: 0.55 - 3 x 0.04; a million: six decades
    assert face.distance_for(1000, 0.001) == pytest.approx(0.43, abs=0.001)
    assert face.distance_for(1_000_000, 0.001) == pytest.approx(0.31, abs=0.001)


def test_the_face_tail_is_validated_and_the_old_duplicate_distance_key_is_gone(tmp_path):
    with pytest.raises(ConfigError, match="face.distance_per_decade"):
        load_config("test", home=tmp_path, environ={"STATION_FACE__DISTANCE_PER_DECADE": "0"})
    with pytest.raises(ConfigError, match="face.distance_at_fmr_1e3"):
        load_config("test", home=tmp_path, environ={"STATION_FACE__DISTANCE_AT_FMR_1E3": "-0.1"})
    # the 1:N face distance is computed for each search (face.distance_for), never set on its own
    with pytest.raises(ConfigError, match="unknown key enrollment.face_duplicate_distance"):
        load_config("test", home=tmp_path, environ={"STATION_ENROLLMENT__FACE_DUPLICATE_DISTANCE": "0.5"})


@pytest.mark.parametrize("content, problem", [
    (b'a = "\xff"\n', "not UTF-8 text"),
    (b"[station\n", "not valid TOML"),
])
def test_a_station_file_that_cannot_be_read_is_one_config_error(tmp_path, content, problem):
    """A byte that is not UTF-8 in station.toml was an internal error (UnicodeDecodeError) in every command, doctor
    included; it is a configuration error naming the file, as bad TOML is."""
    (tmp_path / "station.toml").write_bytes(content)
    with pytest.raises(ConfigError, match=f"station.toml: .*{problem}"):
        load_config("test", home=tmp_path, environ={})
