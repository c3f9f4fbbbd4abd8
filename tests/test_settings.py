import pytest

from shared.settings import DEFAULT_ARM_ENDPOINT, Settings, SettingsError


def test_defaults_point_at_azure():
    settings = Settings.from_env({"AZURE_SUBSCRIPTION_ID": "sub"})
    assert settings.arm_endpoint == DEFAULT_ARM_ENDPOINT
    assert settings.arm_ca_bundle is None
    assert settings.arm_polling_interval == 30.0
    assert settings.spec_path == "network.yaml"
    assert settings.require_subscription() == "sub"


def test_missing_subscription_is_named():
    with pytest.raises(SettingsError, match="AZURE_SUBSCRIPTION_ID"):
        Settings.from_env({}).require_subscription()


def test_plain_http_arm_endpoint_is_refused():
    with pytest.raises(SettingsError, match=r"HYBRIDNET_ARM_ENDPOINT.*https"):
        Settings.from_env({"HYBRIDNET_ARM_ENDPOINT": "http://127.0.0.1:1"})


def test_missing_ca_bundle_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match=r"HYBRIDNET_ARM_CA_BUNDLE.*no such file"):
        Settings.from_env({"HYBRIDNET_ARM_CA_BUNDLE": str(tmp_path / "nope.pem")})


@pytest.mark.parametrize(
    ("value", "message"),
    [("abc", "is not a number"), ("0", "between"), ("1000", "between")],
)
def test_bad_numbers_name_the_setting(value, message):
    with pytest.raises(SettingsError, match=rf"HYBRIDNET_ARM_POLLING_INTERVAL=.*{message}"):
        Settings.from_env({"HYBRIDNET_ARM_POLLING_INTERVAL": value})


def test_tables_fall_back_to_functions_storage():
    settings = Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert settings.tables_connection_string == "UseDevelopmentStorage=true"
    explicit = Settings.from_env({"AzureWebJobsStorage": "a", "HYBRIDNET_TABLES_CONNECTION_STRING": "b"})
    assert explicit.tables_connection_string == "b"


def test_leases_are_short_and_need_not_outlive_the_apply_budget():
    # Leases are renewed while the work goes on: a short one bounds how long a crashed holder (or a
    # failed release) blocks a site, whatever the apply budget.
    assert Settings.from_env({}).lease_seconds == 90
    settings = Settings.from_env({"HYBRIDNET_LEASE_SECONDS": "60", "HYBRIDNET_APPLY_BUDGET_SECONDS": "1200"})
    assert settings.lease_seconds == 60


def test_storage_keys_stay_out_of_repr():
    settings = Settings.from_env({"AzureWebJobsStorage": "AccountName=a;AccountKey=c2VjcmV0"})
    assert "c2VjcmV0" not in repr(settings)
