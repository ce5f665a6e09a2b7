"""Royalties (§10.5): quarterly reports of net sales, corrections, the upfront fee, and
their posting to the ledger split between the fund and the partners.

Decisions this module makes:

* **Who reports**: the licensee — its people, or its API keys with ``royalties:write``.
* **When**: a licence that is or was in force (active, suspended, expired, terminated), for
  a quarter that has begun (Asia/Tokyo) and overlaps its term; for a terminated licence the
  term ends on the day it was terminated. Royalties on sales made while licensed stay due
  after the licence ends, and so do corrections. Draft, pending and approved (not yet
  active) licences take no reports.
* **Corrections**: a report for a quarter already reported supersedes the latest report of
  that quarter (chain through ``supersedes``) and posts only the difference
  (``rules.correction_delta``) — split by the allocation in force now. A lower royalty
  posts the same legs in the other direction (kind ``royalty``, not ``reversal``: the
  ledger's reversal undoes one whole transaction). If the money has already been paid out
  of a payable, such a correction is refused (409) and nothing changes. A report that
  repeats the latest one exactly is refused (409): it would change nothing.
* **Split**: ``rules.royalty_split``: the fund's share (``Fund.fund_share_bp``) to the pool
  of the licensor's side, the rest over the return-allocation table of the project the
  licensed asset came from; for background IP, or a project without a table, the rest
  goes to the licensor's payable. A licence of several assets splits the rest over its
  assets by their shares (``LicenceAsset.share_bp``), and each asset's part over its own
  project's table (``royalty_rules.multi_asset_split``; largest remainder at every level).
* **Currency**: a fund pool holds one currency (the side's: ``fund:JP:pool`` JPY,
  ``fund:KR:pool`` KRW), and the ledger has no other account for the fund's share. A
  licence whose currency is not the currency of the licensor's side therefore cannot be
  posted: reports and the upfront fee are refused with 409
  ``royalty_currency_mismatch`` naming both currencies, and nothing is written (a KRW
  posting must never open ``fund:JP:pool`` in KRW). A licensor outside Japan and Korea has
  no side: the fund's share goes to the pool of the side whose currency the licence is in.
* **Posting**: ``ledger_post`` kind ``royalty`` in the licence's currency,
  ``licensee:{id}:{ccy}`` → ``fund:{side}:pool`` + ``org:{id}:{ccy}:payable``, reference
  ``royalty:{report id}`` (the report's id is drawn from its sequence first, because the
  report row is immutable once written) or ``licence:{id}:upfront``. A royalty of zero
  posts nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel.models import Fund
from fundapp.kernel.notices import notify_people
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import Transaction, TransactionKind
from fundapp.ledger.services import InsufficientFunds, ledger_post
from fundapp.money import MAX_AMOUNT, format_amount
from fundapp.notifications.outbox import event_record
from ip_licensing import royalty_rules, rules
from ip_licensing.models import Licence, LicenceState, ReturnAllocationEntry, RoyaltyReport
from ip_licensing.permissions import can_report_royalties as can_report_royalties
from ip_licensing.services import royalty_integrity

# A licence that is or was in force takes reports (see the module docstring).
REPORTABLE_STATES = (
    LicenceState.ACTIVE,
    LicenceState.SUSPENDED,
    LicenceState.EXPIRED,
    LicenceState.TERMINATED,
)
# The upfront fee is due once the licence has been active.
UPFRONT_STATES = REPORTABLE_STATES
_CURRENCY_SIDE = {currency: side for side, currency in ledger_rules.SIDE_CURRENCY.items()}
_DEFAULT_FUND_SHARE_BP = 1000


def _refuse(field: str, message: str, code: str = "validation_failed") -> ValidationFailed:
    return ValidationFailed(message, code=code, errors={field: [message]})


# --------------------------------------------------------------------------- who


# --------------------------------------------------------------------------- the split


@dataclass(frozen=True)
class RoyaltyAllocation:
    """Where a licence's royalties go: the fund's side and share, and each asset's share of
    the rest with the table that splits it (§10.5, §23).

    ``assets`` is ``[(share_bp, [(organisation id, basis points)]), ...]`` in asset-id
    order; ``table`` is the same allocation summed over the assets (the weight each
    organisation has in the licence), kept for readers of one table."""

    fund_side: str
    fund_share_bp: int
    table: list[tuple[int, int]]  # [(organisation id, basis points)], summing to 10,000
    assets: tuple[royalty_rules.AssetTable, ...] = ()

    def split(self, amount: int) -> tuple[int, list[tuple[int, int]]]:
        """``(fund part, [(organisation id, part)])`` of a non-negative ``amount``, summing
        exactly to it: ``royalty_rules.multi_asset_split`` over the assets."""
        if self.assets:
            return royalty_rules.multi_asset_split(amount, self.fund_share_bp, self.assets)
        return rules.royalty_split(amount, self.fund_share_bp, self.table)


def _fund_share_bp(project_ids: Iterable[int]) -> int:
    fund = (
        Fund.objects.filter(calls__projects__pk__in=list(project_ids)).order_by("pk").first()
        or Fund.objects.order_by("pk").first()
    )
    return fund.fund_share_bp if fund is not None else _DEFAULT_FUND_SHARE_BP


def fund_side_for(licence: Licence) -> str:
    """The side whose pool takes the fund's share; refuses a currency that pool cannot hold."""
    licensor_side = licence.licensor.side
    side = (
        licensor_side
        if licensor_side in ledger_rules.SIDES
        else _CURRENCY_SIDE.get(licence.currency)
    )
    if side is None or ledger_rules.SIDE_CURRENCY[side] != licence.currency:
        pool_currency = ledger_rules.SIDE_CURRENCY.get(side or "", "")
        message = _(
            "Royalties of licence %(reference)s are in %(currency)s, but the fund's share goes "
            "to the %(side)s side's pool, which holds %(pool_currency)s only. Licences of a "
            "%(side)s licensor must be in %(pool_currency)s; terminate this licence and agree "
            "a new one in %(pool_currency)s."
        ) % {
            "reference": licence.reference,
            "currency": licence.currency,
            "side": side,
            "pool_currency": pool_currency,
        }
        raise Conflict(message, code="royalty_currency_mismatch", errors={"currency": [message]})
    return side


def royalty_allocation(licence: Licence) -> RoyaltyAllocation:
    """The fund's side and share and, per asset, its share and the table splitting it: the
    return-allocation table of the project the asset came from; background IP (or a project
    without a table) goes to the asset's owner, the licensor (two queries)."""
    side = fund_side_for(licence)
    links: list[tuple[int | None, int, int]] = list(
        licence.licence_assets.order_by("asset_id").values_list(
            "asset__project_id", "asset__owner_id", "share_bp"
        )
    )
    project_ids = sorted({project_id for project_id, _o, _s in links if project_id is not None})
    tables: dict[int, list[tuple[int, int]]] = {project_id: [] for project_id in project_ids}
    for project_id, org_id, bp in (
        ReturnAllocationEntry.objects.filter(project_id__in=project_ids)
        .order_by("project_id", "id")
        .values_list("project_id", "organisation_id", "basis_points")
    ):
        tables[project_id].append((org_id, bp))
    if not links:  # no asset at all: the licensor's
        links = [(None, licence.licensor_id, ledger_rules.BASIS_POINTS_WHOLE)]
    if royalty_rules.shares_problem([share for _p, _o, share in links]) is not None:
        message = _(
            "The asset shares of licence %(reference)s do not sum to 10,000 basis points; "
            "ask the fund officers to correct them."
        ) % {"reference": licence.reference}
        raise Conflict(message, code="asset_shares_invalid")
    per_asset: list[royalty_rules.AssetTable] = []
    for asset_project, owner_id, share in links:
        table = tables.get(asset_project, []) if asset_project is not None else []
        if table and sum(bp for _org, bp in table) != ledger_rules.BASIS_POINTS_WHOLE:
            message = _(
                "The return-allocation table of project %(project)s does not sum to 10,000 "
                "basis points; ask the fund officers to correct it."
            ) % {"project": asset_project}
            raise Conflict(message, code="allocation_table_invalid")
        per_asset.append((share, table or [(owner_id, ledger_rules.BASIS_POINTS_WHOLE)]))
    if len(per_asset) == 1:
        combined: list[tuple[int, int]] = list(per_asset[0][1])
    else:
        weights: dict[int, int] = {}
        for share, asset_table in per_asset:
            for org_id, bp in asset_table:
                weights[org_id] = weights.get(org_id, 0) + share * bp
        shares = ledger_rules.largest_remainder_split(
            ledger_rules.BASIS_POINTS_WHOLE, list(weights.values())
        )
        combined = list(zip(weights.keys(), shares, strict=True))
    return RoyaltyAllocation(
        fund_side=side,
        fund_share_bp=_fund_share_bp(project_ids),
        table=combined,
        assets=tuple(per_asset),
    )


def royalty_legs(
    *, licence: Licence, amount: int, allocation: RoyaltyAllocation
) -> list[tuple[str, int]]:
    """The ledger legs moving ``amount`` (negative: back) from the licensee to the fund's
    pool and the partners' payables; zero parts are left out. Any amount due under the
    licence (a royalty, its correction, late interest, an audit's finding, sublicence
    income) is split this way."""
    fund_part, parts = allocation.split(abs(amount))
    sign = 1 if amount > 0 else -1
    currency = licence.currency
    legs = [(ledger_rules.account_code_licensee(licence.licensee_id, currency), -amount)]
    if fund_part:
        legs.append((ledger_rules.account_code_fund_pool(allocation.fund_side), sign * fund_part))
    legs.extend(
        (ledger_rules.account_code_org_payable(org_id, currency), sign * part)
        for org_id, part in parts
        if part
    )
    return legs


def _post(
    *, licence: Licence, amount: int, reference: str, memo: str, actor: Actor | None
) -> Transaction:
    allocation = royalty_allocation(licence)
    legs = royalty_legs(licence=licence, amount=amount, allocation=allocation)
    try:
        txn = ledger_post(
            kind=TransactionKind.ROYALTY,
            currency=licence.currency,
            legs=legs,
            reference=reference,
            memo=memo,
            actor=actor,
        )
    except InsufficientFunds as exc:
        message = _(
            "This correction lowers the royalty by %(amount)s, but part of that money has "
            "already been paid out; the fund's finance officers must settle it first."
        ) % {"amount": format_amount(-amount, licence.currency)}
        raise Conflict(
            message,
            code="royalty_correction_uncovered",
            errors={"net_sales": [message, *exc.errors.get("legs", [])]},
        ) from exc
    # A webhook-ready event for the licence's parties and the paid partners (§13).
    event_record(
        kind="royalty.posted",
        obj=licence,
        organisation_ids=[licence.licensor_id, licence.licensee_id, *allocation_org_ids(legs)],
        payload={
            "id": licence.pk,
            "licence": licence.pk,
            "reference": licence.reference,
            "transaction": txn.reference,
            "amount": amount,
            "currency": licence.currency,
        },
    )
    return txn


def allocation_org_ids(legs: Iterable[tuple[str, int]]) -> list[int]:
    """The organisations whose payable accounts a royalty posting credits."""
    ids = []
    for code, _amount in legs:
        parsed = ledger_rules.parse_account_code(code)
        if parsed.family == "org_payable" and parsed.owner_id is not None:
            ids.append(parsed.owner_id)
    return ids


def _recipients(licence: Licence, allocation_org_ids: Iterable[int]) -> list[User]:
    org_ids = {licence.licensor_id, *allocation_org_ids}
    return list(
        User.objects.filter(
            is_active=True,
            memberships__organisation_id__in=org_ids,
            memberships__research_office=True,
        )
        .distinct()
        .order_by("pk")
    )


def _notify_posted(
    licence: Licence, txn: Transaction, amount: int, quarter: str | None = None
) -> None:
    """The licensor's and the fund's people hear of a royalty (``quarter``) or, without
    one, of the upfront fee."""
    org_ids = [
        parsed.owner_id
        for parsed in (
            ledger_rules.parse_account_code(code)
            for code in txn.entries.values_list("account__code", flat=True)
        )
        if parsed.family == "org_payable" and parsed.owner_id is not None
    ]
    notify_people(
        users=_recipients(licence, org_ids),
        message="royalty.upfront_posted" if quarter is None else "royalty.posted",
        params={
            "licence": licence.pk,
            "amount": amount,
            "currency": licence.currency,
            "reference": txn.reference,
            **({} if quarter is None else {"quarter": quarter}),
        },
    )


# --------------------------------------------------------------------------- reports


def _lock(licence: Licence) -> Licence:
    return (
        Licence.objects.select_for_update(of=("self",), no_key=True)
        .select_related("licensor")
        .get(pk=licence.pk)
    )


def _term_end(licence: Licence) -> date:
    if licence.state == LicenceState.TERMINATED and licence.ended_at is not None:
        return min(licence.end_on, rules.today_in_tokyo(licence.ended_at))
    return licence.end_on


def _validated_quarter(licence: Licence, quarter: str) -> str:
    try:
        year, number = rules.parse_quarter(quarter.strip() if isinstance(quarter, str) else quarter)
    except ValueError:
        raise _refuse("quarter", _("Give a quarter as YYYY-Qn, e.g. 2026-Q3.")) from None
    first, last = rules.quarter_bounds(year, number)
    end = _term_end(licence)
    if not rules.terms_overlap(first, last, licence.start_on, end):
        raise _refuse(
            "quarter",
            _("%(quarter)s is outside the licence's term (%(start)s to %(end)s).")
            % {"quarter": quarter, "start": licence.start_on, "end": end},
        )
    if first > rules.today_in_tokyo(timezone.now()):
        raise _refuse("quarter", _("%(quarter)s has not begun yet.") % {"quarter": quarter})
    return rules.format_quarter(year, number)


def _validated_net_sales(net_sales: object) -> int:
    if isinstance(net_sales, bool) or not isinstance(net_sales, int):
        raise _refuse("net_sales", _("Give net sales as a whole amount (no fraction)."))
    if net_sales < 0:
        raise _refuse("net_sales", _("Net sales cannot be negative."))
    if net_sales > MAX_AMOUNT:
        raise _refuse("net_sales", _("Net sales above 10¹⁵ are refused."))
    return net_sales


def _reserve_report_id() -> int:
    """The next report id, drawn before the (immutable) row is written so the ledger
    reference can name it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [RoyaltyReport._meta.db_table]
        )
        return int(cursor.fetchone()[0])


def _validated_sublicence_income(licence: Licence, income: object) -> int:
    """§23: whole, non-negative, and only for a sublicensable licence."""
    if isinstance(income, bool) or not isinstance(income, int):
        raise _refuse("sublicence_income", _("Give sublicence income as a whole amount."))
    if income < 0:
        raise _refuse("sublicence_income", _("Sublicence income cannot be negative."))
    if income > MAX_AMOUNT:
        raise _refuse("sublicence_income", _("Sublicence income above 10¹⁵ is refused."))
    if income and not licence.sublicensable:
        raise _refuse(
            "sublicence_income",
            _("This licence is not sublicensable: it has no sublicence income to report."),
        )
    return income


def royalty_report_submit(
    *, licence: Licence, actor: Actor, quarter: str, net_sales: int, sublicence_income: int = 0
) -> RoyaltyReport:
    """Record the licensee's net sales for one quarter and post the royalty due.

    Guarantees, in one transaction with the licence row locked (so two reports of the same
    quarter are serialised and the chain never forks):

    - the licensee only (403); a licence that is or was in force (409); a quarter that has
      begun and overlaps the term, whole non-negative net sales (422);
    - royalty due = ``rules.royalty_due`` (rate and quarterly minimum); on top of it the
      parent's share of the quarter's ``sublicence_income`` (§23,
      ``rules.sublicence_due``: ``round_half_up`` of ``sublicence_share_bp``), posted and
      split with it; a sublicence takes no report (its income is its licensor's to report
      on the parent, 409);
    - the first report of a quarter posts the royalty; a later one supersedes the latest
      report of the quarter and posts only the difference, in either direction;
    - the ledger posting (reference ``royalty:{report id}``) and the report commit together,
      with a ``royalty_report.submitted`` audit event; the licensor's and partners' research
      offices are told after commit;
    - royalty integrity (§23, ``royalty_integrity``) in the same transaction: a report
      filed after its quarter's deadline (Asia/Tokyo days; whether or not the daily job has
      marked the quarter overdue) accrues late interest on what it posts, posted once as
      ``royalty-interest:{report id}``; the report is flagged for officers when its net sales are under half the
      trailing four-quarter mean; the quarter's period becomes ``reported``.
    """
    allowed, reason = can_report_royalties(actor, licence)
    if not allowed:
        raise PermissionDenied(reason)
    net_sales = _validated_net_sales(net_sales)
    with transaction.atomic():
        locked = _lock(licence)
        if locked.state not in REPORTABLE_STATES:
            raise Conflict(
                _("A licence in state “%(state)s” takes no royalty reports.")
                % {"state": LicenceState(locked.state).label},
                code="invalid_state",
            )
        if locked.parent_id is not None:
            raise Conflict(
                _(
                    "A sublicence takes no royalty report: its licensor reports the income "
                    "from it with the royalty report of the parent licence."
                ),
                code="sublicence",
            )
        sublicence_income = _validated_sublicence_income(locked, sublicence_income)
        sub_due = rules.sublicence_due(sublicence_income, locked.sublicence_share_bp)
        quarter = _validated_quarter(locked, quarter)
        fund_side_for(locked)  # refuse a currency the fund's pool cannot hold, before anything
        previous = (
            RoyaltyReport.objects.filter(
                licence=locked, quarter=quarter, superseded_by__isnull=True
            )
            .order_by("-reported_at", "-id")
            .first()
        )
        due = rules.royalty_due(net_sales, locked.royalty_rate, locked.minimum_annual_royalty)
        if (
            previous is not None
            and previous.net_sales == net_sales
            and previous.royalty_due == due
            and previous.sublicence_income == sublicence_income
            and previous.sublicence_due == sub_due
        ):
            raise Conflict(
                _("%(quarter)s is already reported with these net sales; nothing changes.")
                % {"quarter": quarter},
                code="royalty_report_unchanged",
            )
        delta = (
            due + sub_due
            if previous is None
            else rules.correction_delta(
                previous.royalty_due + previous.sublicence_due, due + sub_due
            )
        )
        report_id = _reserve_report_id()
        txn = None
        if delta:
            txn = _post(
                licence=locked,
                amount=delta,
                reference=f"royalty:{report_id}",
                memo=(
                    f"Royalty {locked.reference} {quarter}"
                    + (f" (correction of report {previous.pk})" if previous is not None else "")
                ),
                actor=actor,
            )
        # Royalty integrity (§23): late interest posted beside the royalty, the flag.
        integrity = royalty_integrity.report_integrity(
            licence=locked,
            quarter=quarter,
            net_sales=net_sales,
            amount=delta,
            report_id=report_id,
            post=lambda amount, reference, memo: _post(
                licence=locked, amount=amount, reference=reference, memo=memo, actor=actor
            ),
        )
        report = RoyaltyReport.objects.create(
            **integrity.fields,
            id=report_id,
            licence=locked,
            quarter=quarter,
            net_sales=net_sales,
            royalty_due=due,
            sublicence_income=sublicence_income,
            sublicence_due=sub_due,
            posted_amount=delta,
            supersedes=previous,
            reported_by=actor if isinstance(actor, User) else None,
            reported_by_api_key=actor if isinstance(actor, ApiKey) else None,
            ledger_transaction=txn,
        )
        audit_record(
            actor=actor,
            action="royalty_report.submitted",
            obj=report,
            before=(
                None
                if previous is None
                else {
                    "report": previous.pk,
                    "net_sales": previous.net_sales,
                    "royalty_due": previous.royalty_due,
                }
            ),
            after={
                "licence": locked.pk,
                "quarter": quarter,
                "net_sales": net_sales,
                "royalty_due": due,
                "sublicence_income": sublicence_income,
                "sublicence_due": sub_due,
                "posted_amount": delta,
                "supersedes": previous.pk if previous is not None else None,
                "ledger_transaction": txn.pk if txn is not None else None,
            },
        )
        royalty_integrity.report_recorded(report=report, licence=locked, actor=actor)
        if txn is not None:
            _notify_posted(locked, txn, delta, quarter=str(quarter))
    return report


def royalty_post_upfront(*, licence: Licence, actor: Actor | None = None) -> Transaction | None:
    """Post the licence's upfront fee once, split like a royalty; returns its transaction
    (``None`` for a fee of zero).

    Idempotent: the licence row is locked and ``upfront_posted`` decides, and the ledger
    reference ``licence:{id}:upfront`` is unique, so calling it again (from the activation
    job, a retry, a second worker) posts nothing more. Refuses a licence that has never been
    active (409) and a currency the fund's pool cannot hold (409). Audited
    (``licence.upfront_posted``); the research offices are told after commit.
    """
    reference = f"licence:{licence.pk}:upfront"
    with transaction.atomic():
        locked = _lock(licence)
        if locked.upfront_posted:
            return Transaction.objects.filter(reference=reference).first()
        if locked.state not in UPFRONT_STATES:
            raise Conflict(
                _("The upfront fee is due once the licence is active; this one is “%(state)s”.")
                % {"state": LicenceState(locked.state).label},
                code="invalid_state",
            )
        txn = None
        if locked.upfront_fee:
            txn = _post(
                licence=locked,
                amount=locked.upfront_fee,
                reference=reference,
                memo=f"Upfront fee {locked.reference}",
                actor=actor,
            )
        locked.upfront_posted = True
        locked.save(update_fields=["upfront_posted"])
        audit_record(
            actor=actor,
            action="licence.upfront_posted",
            obj=locked,
            before={"upfront_posted": False},
            after={
                "upfront_posted": True,
                "upfront_fee": locked.upfront_fee,
                "ledger_transaction": txn.pk if txn is not None else None,
            },
        )
        if txn is not None:
            _notify_posted(locked, txn, locked.upfront_fee)
    licence.upfront_posted = True
    return txn
