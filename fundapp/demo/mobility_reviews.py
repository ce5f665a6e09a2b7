"""Demo talent exchange before the award (§25, §6, §20), beside ``fundapp.demo.mobility``:

- Boston → Tokyo (US → JP): a submitted application waiting for the Tokyo research
  office's endorsement;
- Daejeon → Boston (KR → US): under review (its screening case open, a US organisation
  is involved), with the demo reviewer asked to declare their conflicts.

So every demo role finds something on the exchange's pages: the research office on its
endorsement page, the reviewer in their exchange reviews, the officers in the call's list
of applications. The review goes through the services (``application_start_review``,
``application_reviewer_assign``). Idempotent: an application that exists (by its title)
is left as it is.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fundapp.accounts.models import Membership, Organisation, User
from fundapp.kernel.calendar import today_in_tokyo
from mobility.models import ApplicationState, VisitApplication
from mobility.services.reviews import application_reviewer_assign, application_start_review
from projects.models import Call

from .mobility import CALL_TITLE

if TYPE_CHECKING:
    from .seed import SeedReport

AWAITING_ENDORSEMENT = "Superconducting qubit packaging in Tokyo"
UNDER_REVIEW = "Cryogenic CMOS control chips in Boston"


def _postdoc(home: Organisation) -> User:
    user, created = User.objects.get_or_create(
        username="postdoc_boston",
        defaults={"first_name": "Jordan", "last_name": "Lee", "preferred_language": "en"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        Membership.objects.create(user=user, organisation=home)
    return user


def _application(
    call: Call,
    *,
    visitor: User,
    home: Organisation,
    host: Organisation,
    titles: tuple[str, str, str],
    state: str,
    now: datetime,
    endorsed_by: User | None = None,
) -> VisitApplication:
    """The application as the wizard, the submission and (given ``endorsed_by``) the
    host's endorsement leave it."""
    endorsed = endorsed_by is not None
    return VisitApplication.objects.create(
        call=call,
        visitor=visitor,
        created_by=visitor,
        home_organisation=home,
        host_organisation=host,
        research_area=call.research_areas.order_by("code").first(),
        planned_start=today_in_tokyo() + timedelta(days=120),
        months=5,
        title_en=titles[0],
        title_ja=titles[1],
        title_ko=titles[2],
        plan_en="Design and test with the host's group; a joint report at the end.",
        plan_ja="受入機関のグループと設計・試験を行い、最後に共同報告をまとめる。",
        plan_ko="초청 기관 연구팀과 설계·시험을 하고 마지막에 공동 보고서를 작성한다.",
        host_supervisor_name="Host supervisor",
        host_supervisor_email=f"supervisor@{host.code.lower()}.example",
        effort_percent=20,
        state=state,
        submitted_at=now - timedelta(days=12),
        endorsed_at=now - timedelta(days=8) if endorsed else None,
        endorsed_by_user=endorsed_by,
    )


def seed_mobility_reviews(
    report: SeedReport,
    *,
    users: dict[str, User],
    orgs: dict[str, Organisation],
    now: datetime,
) -> None:
    """The two applications of the module docstring, on the demo's mobility call."""
    call = Call.objects.filter(title_en=CALL_TITLE).first()
    if call is None:
        return
    waiting = VisitApplication.objects.filter(call=call, title_en=AWAITING_ENDORSEMENT).first()
    report.made("visit applications", waiting is None)
    if waiting is None:
        home = orgs["US-BOS-01"]
        _application(
            call,
            visitor=_postdoc(home),
            home=home,
            host=orgs["JP-TKY-01"],
            titles=(
                AWAITING_ENDORSEMENT,
                "東京での超伝導量子ビット実装",
                "도쿄 초전도 큐비트 패키징",
            ),
            state=ApplicationState.SUBMITTED,
            now=now,
        )
    reviewed = VisitApplication.objects.filter(call=call, title_en=UNDER_REVIEW).first()
    report.made("visit applications", reviewed is None)
    if reviewed is None:
        reviewed = _application(
            call,
            visitor=users["pi_daejeon"],
            home=orgs["KR-DJN-01"],
            host=orgs["US-BOS-01"],
            titles=(
                UNDER_REVIEW,
                "ボストンでの極低温CMOS制御チップ",
                "보스턴 극저온 CMOS 제어 칩",
            ),
            state=ApplicationState.ENDORSED,
            now=now,
            # As in fundapp.demo.mobility: the demo has no research office in Boston.
            endorsed_by=users["officer_kr"],
        )
        reviewed = application_start_review(application=reviewed, actor=users["officer_jp"])
        application_reviewer_assign(
            application=reviewed, reviewer=users["reviewer1"], actor=users["officer_jp"]
        )
