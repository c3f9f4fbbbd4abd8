"""Names derived from a site's name (pure): Key Vault secret names and Table Storage keys.

Every derivation here is injective, and `hybridnet validate` checks that a spec's derived names are
distinct (and valid) anyway (`shared.spec.rules.check_derived_names`), so no two sites can ever share a
secret or a table partition.

Key Vault secret names allow only `0-9 a-z A-Z -`, at most 127 characters, and compare without case.
Site names allow `A-Z a-z 0-9 _ -` (and are unique without case). The mapping:

* a *plain* site name (letters, digits and single inner or trailing '-', not starting with '-') maps to
  `ipsec-<site>` unchanged (the names every earlier release used for those sites);
* any other name (with '_', '--' or a leading '-') maps to `ipsec--` followed by the name with each
  '-' written `-d` and each '_' written `-u`: `a_b` -> `ipsec--a-ub`, `a-b` -> `ipsec-a-b`.

A plain name never contains `--`; an escaped one has `--` only right after `ipsec` and every later '-'
is followed by `d` or `u`: the two forms never meet and each decodes one way, with or without case.
The staging secret of a site (a new key before Azure has it, see `shared.services.rotation`) is the
site's secret name + `--staged`, which is neither form, so it never equals another site's secret.
"""

from __future__ import annotations

import re

SECRET_PREFIX = "ipsec-"
STAGED_SUFFIX = "--staged"
SECRET_NAME_MAX = 127
SECRET_NAME_RE = re.compile(r"[0-9A-Za-z-]{1,127}")
_PLAIN = re.compile(r"[0-9A-Za-z]+(?:-[0-9A-Za-z]+)*-?")
_ESCAPES = {"-": "-d", "_": "-u"}
# Characters Table Storage forbids in PartitionKey/RowKey (plus control characters).
_TABLE_FORBIDDEN = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


def secret_name(site: str) -> str:
    """The Key Vault secret holding a site's IPsec keys (the one the on-premises appliance reads)."""
    if _PLAIN.fullmatch(site):
        return SECRET_PREFIX + site
    return SECRET_PREFIX + "-" + "".join(_ESCAPES.get(c, c) for c in site)


def staged_secret_name(site: str) -> str:
    """The Key Vault secret holding a new key until Azure has it (the appliance never reads it)."""
    return secret_name(site) + STAGED_SUFFIX


def table_key(site: str) -> str:
    """The PartitionKey of a site's rows (rotation state and history, leases, runs): the name itself."""
    return site


def secret_name_problem(name: str) -> str | None:
    """Why Key Vault would refuse `name` as a secret name, or None."""
    if len(name) > SECRET_NAME_MAX:
        return f"{len(name)} characters (Key Vault allows {SECRET_NAME_MAX})"
    if not SECRET_NAME_RE.fullmatch(name):
        return "characters other than letters, digits and '-'"
    return None


def table_key_problem(key: str) -> str | None:
    """Why Table Storage would refuse `key` as a PartitionKey/RowKey, or None."""
    if not key or len(key.encode("utf-8")) > 1024:
        return "empty or longer than 1 KiB"
    if _TABLE_FORBIDDEN.search(key):
        return "'/', '\\', '#', '?' or control characters"
    return None


# (namespace, what, derive, problem) for every name derived from a site name. Names in one namespace
# must all differ; Key Vault compares names without case, Table Storage with case.
DERIVED_NAMES = (
    ("Key Vault", "secret", secret_name, secret_name_problem),
    ("Key Vault", "staging secret", staged_secret_name, secret_name_problem),
    ("Table Storage", "partition key", table_key, table_key_problem),
)
CASE_INSENSITIVE = frozenset({"Key Vault"})
