//! The supervisors' web console in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over WebDriver with thirtyfour), against the real server on the
//! small demo street, on SQLite and on PostgreSQL.
//!
//! One scenario walks what a community supervisor does: sign in, read the dashboard, open an
//! overdue case, accept and dispatch it (and a phone of the grid receives the dispatch through
//! sync), reveal a masked ID number with a reason (and the administrator finds the reveal in
//! the audit log), resolve a conflict two phones made (and a phone receives the choice), see a
//! hazard's photos before and after rectification (real JPEGs the worker's phone uploads; the
//! verification refused while there is no photo after; the viewer; a placeholder for a photo
//! not uploaded yet).
//!
//! Without Chromium the test says so and passes, except under `CI=true`, where it fails:
//! `.ci/run` installs the packages. With `GRIDBOOK_SCREENSHOTS=DIR` (see `scripts/screenshots`)
//! each page is saved there as a PNG; otherwise screenshots go to a temporary folder.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gridbook_server::demo::DEMO_PASSWORD;
use gridbook_tests::{Backend, Phone, TestApp, resident_with_id_number};
use sync_core::ids::{DocId, ItemId, UserId};
use sync_core::models::HouseholdPrivate;
use sync_core::models::case::{Case, CaseAction, CaseEvent, CaseKind, Urgency};
use sync_core::models::household::{Address, Household};
use sync_core::record::{Place, Role};
use sync_core::time::Timestamp;
use thirtyfour::prelude::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long to wait for the page to show something.
const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_on_sqlite() -> anyhow::Result<()> {
    scenario(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_on_postgres() -> anyhow::Result<()> {
    scenario(Backend::Postgres).await
}

/// A child process killed (and reaped) when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A headless Chromium behind its own chromedriver, closed on drop.
struct Browser {
    driver: Option<WebDriver>,
    _chromedriver: KillOnDrop,
    shots: PathBuf,
    _shots_tmp: Option<tempfile::TempDir>,
}

impl Browser {
    /// `None` (after saying why) when Chromium is not installed and this is not CI.
    async fn start(label: &str) -> anyhow::Result<Option<Self>> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                bail!("{CHROMIUM} or {CHROMEDRIVER} is missing; .ci/run installs them");
            }
            eprintln!(
                "SKIPPED browser tests: install Debian's chromium and chromium-driver \
                 (.ci/run does) to run them"
            );
            return Ok(None);
        }
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.local_addr()?.port()
        };
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(KillOnDrop)
            .context("starting chromedriver")?;
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if started.elapsed() > PATIENCE {
                bail!("chromedriver did not listen on {port}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM)?;
        caps.set_headless()?;
        caps.set_no_sandbox()?;
        caps.set_disable_dev_shm_usage()?;
        caps.add_arg("--window-size=1366,1000")?;
        caps.add_arg("--lang=zh-CN")?;
        let driver = WebDriver::new(url, caps).await?;
        let (shots, tmp) = match std::env::var_os("GRIDBOOK_SCREENSHOTS") {
            Some(dir) if label == "sqlite" => (PathBuf::from(dir), None),
            _ => {
                let tmp = tempfile::tempdir()?;
                (tmp.path().to_owned(), Some(tmp))
            }
        };
        std::fs::create_dir_all(&shots)?;
        Ok(Some(Self {
            driver: Some(driver),
            _chromedriver: chromedriver,
            shots,
            _shots_tmp: tmp,
        }))
    }

    fn driver(&self) -> &WebDriver {
        self.driver.as_ref().expect("driver open until quit")
    }

    /// Waits until an element matching `css` shows text containing `text` ("" for any).
    async fn wait_for(&self, css: &str, text: &str) -> anyhow::Result<WebElement> {
        let started = Instant::now();
        loop {
            for element in self.driver().find_all(By::Css(css)).await? {
                if element.text().await.is_ok_and(|t| t.contains(text)) {
                    return Ok(element);
                }
            }
            if started.elapsed() > PATIENCE {
                let body = self.driver().find(By::Tag("body")).await?.text().await?;
                bail!("no {css} with text {text:?} after {PATIENCE:?}; the page says:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str, text: &str) -> anyhow::Result<()> {
        self.wait_for(css, text).await?.click().await?;
        Ok(())
    }

    async fn type_into(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let input = self.wait_for(css, "").await?;
        input.clear().await?;
        input.send_keys(value).await?;
        Ok(())
    }

    /// Saves the window as `docs/screenshots/<name>.png` (or in the temporary folder).
    async fn shot(&self, name: &str) -> anyhow::Result<()> {
        // Let charts and fonts settle.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = self.driver().screenshot_as_png().await?;
        assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        std::fs::write(self.shots.join(format!("{name}.png")), png)?;
        Ok(())
    }

    async fn sign_in(&self, app: &TestApp, login: &str, password: &str) -> anyhow::Result<()> {
        self.driver().goto(app.url("/")).await?;
        self.type_into("#login-form input[name=login]", login)
            .await?;
        self.type_into("#login-form input[name=password]", password)
            .await?;
        self.click("#login-form button[type=submit]", "").await?;
        self.wait_for("#sign-out", "").await?;
        Ok(())
    }

    /// Takes a case action on the case page: its button, the note when given, submit; then
    /// waits for the timeline to show it.
    async fn case_action(&self, action: &str, note: Option<&str>) -> anyhow::Result<()> {
        self.click(&format!("button[data-action={action}]"), "")
            .await?;
        if let Some(note) = note {
            self.type_into(
                &format!("form[data-action-form={action}] textarea[name=note]"),
                note,
            )
            .await?;
        }
        self.click(
            &format!("form[data-action-form={action}] button[type=submit]"),
            "",
        )
        .await?;
        self.wait_for(&format!("#timeline li[data-event={action}]"), "")
            .await?;
        Ok(())
    }

    async fn sign_out(&self) -> anyhow::Result<()> {
        self.click("#sign-out", "").await?;
        self.wait_for("#login-form", "").await?;
        Ok(())
    }

    async fn quit(mut self) -> anyhow::Result<()> {
        if let Some(driver) = self.driver.take() {
            driver.quit().await?;
        }
        Ok(())
    }
}

fn grid() -> anyhow::Result<Place> {
    Ok(Place {
        community: "dzk".parse()?,
        grid: "dzk-01".parse()?,
    })
}

/// A device clock `minutes` after a morning long ago (so a case opened then is overdue).
fn long_ago(minutes: i64) -> Timestamp {
    Timestamp::from_millis(1_772_416_800_000 + minutes * 60_000)
}

fn overdue_case(place: &Place, worker: &UserId) -> Case {
    Case {
        attachments: Vec::new(),
        id: DocId::new(),
        case_kind: CaseKind::Appeal,
        category: "street_light".into(),
        subject: "巷口路灯不亮 The lane's street light is out".into(),
        description: "居民反映晚上出行不便。Residents find the lane unsafe at night.".into(),
        place: place.clone(),
        location: Some("丁字口老街 12号旁".into()),
        household: None,
        parties: Vec::new(),
        urgency: Urgency::Normal,
        confidential: false,
        opened_by: worker.clone(),
        opened_at: long_ago(0),
        events: vec![CaseEvent {
            id: ItemId::new(),
            actor: worker.clone(),
            role: Role::GridWorker,
            action: CaseAction::Submit,
            note: None,
            at: long_ago(0),
            assignee: None,
            delay_days: None,
            level: None,
            target: None,
            device: None,
            department: None,
            co_departments: Vec::new(),
        }],
        mediation: Vec::new(),
        rectification: None,
    }
}

async fn scenario(backend: Backend) -> anyhow::Result<()> {
    let label = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let Some(app) = TestApp::spawn_demo(backend).await? else {
        return Ok(());
    };
    let Some(browser) = Browser::start(label).await? else {
        return app.stop().await;
    };
    let outcome = walk(&app, &browser).await;
    browser.quit().await?;
    outcome?;
    app.stop().await
}

async fn walk(app: &TestApp, b: &Browser) -> anyhow::Result<()> {
    let place = grid()?;
    let worker = app.user("wang", Role::GridWorker, place.clone()).await?;
    let mut phone = app.phone(&worker).await?;
    let mut other_phone = app.phone(&worker).await?;

    // The phones' part: an appeal reported months ago and never accepted (red), and a household
    // whose head's ID number a supervisor will reveal.
    let case_id = phone
        .replica
        .create(&overdue_case(&place, &worker.id), long_ago(0))?;
    let (head, identity, id_number) = resident_with_id_number("周桂兰", "19480917");
    let mut household = Household::new(
        place.clone(),
        Address {
            compound: "丁字口老街".into(),
            building: "8".into(),
            unit: "2".into(),
            room: "301".into(),
        },
    );
    household.residents.push(head);
    let household_id = household.id.clone();
    phone.create_household(&household, vec![identity], long_ago(1))?;
    // The phone number lives in the household's private document.
    let private_id = HouseholdPrivate::id_for(&household_id);
    // A home visit with a photo of the situation, uploaded by the phone.
    let doorway = jpeg(640, 480, 200);
    let visit_photo = photo(
        &doorway,
        &phone,
        sync_core::models::AttachmentStage::Situation,
        "老人独居，门口堆放杂物",
        long_ago(2),
    );
    let visit_id = phone.replica.create(
        &sync_core::models::visit::Visit {
            attachments: vec![visit_photo],
            id: DocId::new(),
            place: place.clone(),
            household: household_id.clone(),
            worker: worker.id.clone(),
            at: long_ago(2),
            method: sync_core::models::visit::VisitMethod::DoorToDoor,
            summary: "上门看望周桂兰".into(),
            opened_cases: Vec::new(),
        },
        long_ago(2),
    )?;
    phone.sync(app).await?;
    other_phone.sync(app).await?;
    put_photo(app, &phone, &doorway).await?;

    // 1. Sign in as the community supervisor of 丁字口; the dashboard shows figures and charts.
    b.sign_in(app, "dzk-sup", DEMO_PASSWORD).await?;
    b.wait_for("[data-figure=overdue_cases] .value", "").await?;
    b.wait_for("svg.chart polyline", "").await?;
    b.wait_for("#attention a[data-case]", "").await?;
    b.shot("dashboard").await?;
    // Every interface text has both languages.
    let missing = b
        .driver()
        .execute(
            "return import('/console/i18n.js').then((m) => m.missingKeys());",
            Vec::new(),
        )
        .await?
        .convert::<Vec<String>>()?;
    assert!(
        missing.is_empty(),
        "texts without a translation: {missing:?}"
    );

    // 2. The red cases list holds ours; open it.
    b.driver()
        .goto(app.url("/console/#/cases?level=red&sort=due_at"))
        .await?;
    b.wait_for(&format!("a[data-case='{case_id}']"), "巷口路灯")
        .await?;
    b.shot("cases").await?;
    b.click(&format!("a[data-case='{case_id}']"), "").await?;
    b.wait_for("#case-subject", "巷口路灯").await?;
    b.wait_for("#timeline li[data-event=submit]", "").await?;

    // 3. Accept, then dispatch to the phone's user.
    b.case_action("accept", None).await?;
    b.click("button[data-action=dispatch]", "").await?;
    let select = b
        .wait_for("form[data-action-form=dispatch] select[name=assignee]", "")
        .await?;
    thirtyfour::components::SelectElement::new(&select)
        .await?
        .select_by_value(worker.id.as_str())
        .await?;
    b.type_into(
        "form[data-action-form=dispatch] textarea[name=note]",
        "请今天到现场查看 Please check on site today",
    )
    .await?;
    b.shot("case").await?;
    b.click("form[data-action-form=dispatch] button[type=submit]", "")
        .await?;
    b.wait_for("#timeline li[data-event=dispatch]", "").await?;
    b.wait_for("#case-state", "").await?;

    // The dispatch reaches the grid worker's phone through sync.
    phone.sync(app).await?;
    let case: Case = phone
        .replica
        .document(&case_id)
        .context("case on the phone")?
        .read()?;
    let dispatch = case
        .events
        .iter()
        .find(|e| e.action == CaseAction::Dispatch)
        .context("the dispatch event reached the phone")?;
    assert_eq!(dispatch.assignee.as_ref(), Some(&worker.id));
    assert_eq!(dispatch.role, Role::CommunitySupervisor);
    assert!(
        dispatch
            .note
            .as_deref()
            .is_some_and(|n| n.contains("现场查看"))
    );

    // The worker resolves it on the phone; it now waits on the supervisor's task list for
    // verification by someone other than the resolver, then for closing.
    let t = gridbook_tests_now();
    phone.replica.update(&case_id, t, |k: &mut Case| {
        k.events.push(sync_core::workflow::new_event(
            worker.id.clone(),
            Role::GridWorker,
            CaseAction::Resolve,
            t,
        ));
    })?;
    phone.sync(app).await?;
    b.driver().goto(app.url("/console/#/tasks")).await?;
    b.click(&format!("a[data-task='{case_id}']"), "巷口路灯")
        .await?;
    b.wait_for("#timeline li[data-event=resolve]", "").await?;
    b.click("button[data-action=verify_pass]", "").await?;
    b.type_into(
        "form[data-action-form=verify_pass] textarea[name=note]",
        "电话回访，路灯已修复 Called back: the lamp works",
    )
    .await?;
    b.click("form[data-action-form=verify_pass] button[type=submit]", "")
        .await?;
    b.wait_for("#timeline li[data-event=verify_pass]", "")
        .await?;
    b.case_action("close", None).await?;
    b.wait_for("#case-state", "已结案").await?;
    b.driver().goto(app.url("/console/#/tasks")).await?;
    b.wait_for("main h1", "待我处理").await?;
    assert!(
        !b.driver()
            .source()
            .await?
            .contains(&format!("data-task=\"{case_id}\"")),
        "the closed case left the task list"
    );

    // A verified dispute and a verified hazard of the demo show their kind-specific parts and
    // their course (the newest of a kind may be a draft, with no course yet; the street's
    // first cases, in the first grids, hold every kind in every state up to verified).
    for (kind, part) in [("dispute", "#mediation"), ("hazard", "#case-subject")] {
        b.driver()
            .goto(app.url(&format!("/console/#/cases?kind={kind}&state=verified")))
            .await?;
        b.click("a[data-case]", "").await?;
        b.wait_for(part, "").await?;
        b.wait_for("#timeline li", "").await?;
    }

    // 4. The household page masks the ID number; revealing it takes a reason.
    b.driver()
        .goto(app.url(&format!("/console/#/households/{household_id}")))
        .await?;
    let masked = b
        .wait_for("[data-field='residents[0].id_number']", "")
        .await?;
    let shown = masked.text().await?;
    assert!(shown.contains('*'), "masked: {shown}");
    assert!(!b.driver().source().await?.contains(&id_number));
    // The birth date beside it shows its year only, so the two cannot be combined.
    let born = b
        .wait_for("[data-field='residents[0].birth_date']", "")
        .await?
        .text()
        .await?;
    assert!(born.ends_with("-**-**"), "birth date: {born}");
    b.click("button[data-reveal='residents[0].id_number']", "")
        .await?;
    b.type_into(
        ".reveal-form input[name=reason]",
        "核实低保申请 checking a dibao application",
    )
    .await?;
    b.click(".reveal-form button[type=submit]", "").await?;
    b.wait_for(".revealed", &id_number).await?;
    b.shot("household").await?;
    // The visit's page from the household's: its photo, fetched with the token.
    b.click(&format!("a[data-visit='{visit_id}']"), "").await?;
    b.wait_for("#record-title", "走访").await?;
    b.wait_for("#photos figcaption", "门口堆放杂物").await?;
    wait_for_picture(b, "#photos button[data-open] img").await?;

    // On a tablet (portrait, 820 px wide) the household and case pages fit the width.
    b.driver().set_window_rect(0, 0, 820, 1180).await?;
    for page in [
        format!("/console/#/households/{household_id}"),
        format!("/console/#/cases/{case_id}"),
        "/console/#/".to_owned(),
    ] {
        b.driver().goto(app.url(&page)).await?;
        b.wait_for("main h1", "").await?;
        b.wait_for("section.card", "").await?;
        let overflow = b
            .driver()
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                Vec::new(),
            )
            .await?
            .convert::<i64>()?;
        assert!(overflow <= 0, "{page} is {overflow} px wider than a tablet");
    }
    b.shot("tablet-dashboard").await?;
    b.driver().set_window_rect(0, 0, 1366, 1000).await?;

    b.driver().goto(app.url("/console/#/households")).await?;
    b.wait_for("a[data-household]", "").await?;
    b.shot("households").await?;

    // 5. Two phones set the same resident's phone number offline: a conflict (in the
    // household's private document).
    phone
        .replica
        .update(&private_id, long_ago(10), |p: &mut HouseholdPrivate| {
            p.residents[0].phone = Some("13911110001".into());
        })?;
    other_phone
        .replica
        .update(&private_id, long_ago(11), |p: &mut HouseholdPrivate| {
            p.residents[0].phone = Some("13922220002".into());
        })?;
    phone.sync(app).await?;
    other_phone.sync(app).await?;
    b.driver().goto(app.url("/console/#/conflicts")).await?;
    b.click(&format!("a[data-conflict='{private_id}']"), "")
        .await?;
    let candidates = b.wait_for("section.conflict", "residents[0].phone").await?;
    let values = candidates.text().await?;
    assert!(
        values.contains("0001") && values.contains("0002"),
        "{values}"
    );
    assert!(
        !values.contains("13911110001"),
        "a competing value is unmasked"
    );
    b.shot("conflict").await?;
    // Keep the value ending in 0002.
    let choice = {
        let mut found = None;
        for candidate in b.driver().find_all(By::Css(".candidate")).await? {
            if candidate.text().await?.contains("0002") {
                found = Some(candidate.find(By::Css("button[data-choice]")).await?);
            }
        }
        found.context("the candidate ending in 0002")?
    };
    choice.click().await?;
    b.wait_for(".notice.ok", "").await?;
    other_phone.sync(app).await?;
    phone.sync(app).await?;
    for p in [&phone, &other_phone] {
        let private: HouseholdPrivate = p
            .replica
            .document(&private_id)
            .context("the household's private document on the phone")?
            .read()?;
        assert_eq!(private.residents[0].phone.as_deref(), Some("13922220002"));
    }
    assert_no_conflict_left(&phone, &private_id)?;

    // 5b. Both phones submit the same draft offline: after the merge the second submit is
    // illegal. The supervisor marks it reviewed; the phones get the acknowledgement.
    let mut draft = overdue_case(&place, &worker.id);
    draft.id = DocId::new();
    draft.events.clear();
    draft.subject = "楼道堆放杂物 Clutter in the stairwell".into();
    let draft_id = phone.replica.create(&draft, long_ago(20))?;
    phone.sync(app).await?;
    other_phone.sync(app).await?;
    for (p, minutes) in [(&mut phone, 21), (&mut other_phone, 22)] {
        p.replica
            .update(&draft_id, long_ago(minutes), |k: &mut Case| {
                k.events.push(sync_core::workflow::new_event(
                    worker.id.clone(),
                    Role::GridWorker,
                    CaseAction::Submit,
                    long_ago(minutes),
                ));
            })?;
    }
    phone.sync(app).await?;
    other_phone.sync(app).await?;
    b.driver()
        .goto(app.url(&format!("/console/#/conflicts/{draft_id}")))
        .await?;
    b.wait_for("#illegal-events", "").await?;
    b.shot("conflict-illegal-event").await?;
    b.type_into(
        "form.acknowledge-form textarea",
        "两部手机重复上报 submitted from two phones",
    )
    .await?;
    b.click("form.acknowledge-form button[type=submit]", "")
        .await?;
    b.wait_for(".notice.ok", "").await?;
    phone.sync(app).await?;
    let k: Case = phone
        .replica
        .document(&draft_id)
        .context("draft on the phone")?
        .read()?;
    let status = sync_core::workflow::fold(&k);
    assert!(status.illegal.is_empty(), "{:?}", status.illegal);
    assert_eq!(status.acknowledged.len(), 1);
    assert_eq!(k.events.len(), 3);

    // 6. The exports page, and the English switch.
    b.driver().goto(app.url("/console/#/exports")).await?;
    b.wait_for("button[data-export='cases.xlsx']", "").await?;
    b.shot("exports").await?;
    // An export goes through fetch with the token in a header; the server audits it.
    b.click("button[data-export='cases.csv']", "").await?;
    b.wait_for("button[data-export='cases.csv']", "CSV").await?;
    assert!(
        b.driver()
            .find_all(By::Css(".notice.error"))
            .await?
            .is_empty(),
        "the export failed"
    );
    b.driver().goto(app.url("/console/#/")).await?;
    b.click("#lang", "English").await?;
    b.wait_for("nav a[data-nav=cases]", "Cases").await?;
    b.wait_for("svg.chart polyline", "").await?;
    b.shot("dashboard-en").await?;
    b.click("#lang", "中文").await?;
    b.wait_for("nav a[data-nav=cases]", "案件").await?;

    // 6b. The household moves away; the supervisor archives it from its page, and the
    // phone drops its private document at its next sync.
    phone
        .replica
        .update(&household_id, long_ago(20), |h: &mut Household| {
            h.status = sync_core::models::household::HouseholdStatus::MovedOut;
        })?;
    phone.sync(app).await?;
    b.driver()
        .goto(app.url(&format!("/console/#/households/{household_id}")))
        .await?;
    b.wait_for(&format!("button[data-archive='{household_id}']"), "归档")
        .await?;
    b.type_into(".archive-form input[name=reason]", "全户迁往铜仁")
        .await?;
    b.click(".archive-form button[type=submit]", "").await?;
    b.wait_for(".notice.ok", "").await?;
    b.shot("archived").await?;
    phone.sync(app).await?;
    assert!(
        phone.replica.document(&private_id).is_none(),
        "the archived household's private document left the phone"
    );

    // 6c. The closed loop: a household liaison reports what they noticed (随手报); the grid
    // worker accepts it as a case; the community dispatches it to a department of the street
    // (站所), whose staff resolve it from the console; someone other than the resolver verifies
    // it; the community closes it. The liaison's phone shows the outcome.
    let group: sync_core::ids::LiaisonGroupId = "dzk-01-g99".parse()?;
    let liaison = app
        .user_in_group("lian", Role::Liaison, place.clone(), Some(group.clone()))
        .await?;
    let mut neighbours = Household::new(
        place.clone(),
        Address {
            compound: "丁字口老街".into(),
            building: "9".into(),
            unit: "1".into(),
            room: "101".into(),
        },
    );
    neighbours.liaison_group = Some(group.clone());
    phone.replica.create(&neighbours, long_ago(30))?;
    phone.sync(app).await?;
    let mut liaison_phone = app.phone(&liaison).await?;
    liaison_phone.sync(app).await?;
    let noticed = gridbook_tests_now();
    let report = sync_core::models::Report {
        id: DocId::new(),
        place: place.clone(),
        liaison_group: group.clone(),
        reporter: liaison.id.clone(),
        what: "9栋楼道有人私拉电线给电动车充电".into(),
        location: Some("丁字口老街9栋1单元".into()),
        households: vec![neighbours.id.clone()],
        noticed_at: noticed,
        triage: None,
    };
    let report_id = liaison_phone.replica.create(&report, noticed)?;
    liaison_phone.sync(app).await?;
    phone.sync(app).await?;
    let mut from_report = overdue_case(&place, &worker.id);
    from_report.case_kind = CaseKind::Hazard;
    from_report.category = "fire_exit_blocked".into();
    from_report.subject = "楼道私拉电线充电（联户长随手报）".into();
    from_report.opened_at = noticed;
    from_report.events[0].at = noticed;
    // The worker photographs the place as found (整改前) and the phone uploads the photo.
    let before = jpeg(640, 480, 40);
    from_report.attachments.push(photo(
        &before,
        &phone,
        sync_core::models::AttachmentStage::Before,
        "楼道插线板连着电动车",
        noticed,
    ));
    let loop_case = phone.replica.create(&from_report, noticed)?;
    let mut triaged: sync_core::models::Report = phone
        .replica
        .document(&report_id)
        .context("report")?
        .read()?;
    triaged.triage = Some(sync_core::models::report::Triage {
        decision: sync_core::models::report::TriageDecision::Accepted,
        case: Some(loop_case.clone()),
        reason: None,
        by: worker.id.clone(),
        at: noticed,
    });
    phone.replica.replace(&triaged, None, noticed)?;
    phone.sync(app).await?;
    put_photo(app, &phone, &before).await?;

    b.driver().goto(app.url("/console/#/tasks")).await?;
    b.click(&format!("a[data-task='{loop_case}']"), "私拉电线")
        .await?;
    b.case_action("accept", None).await?;
    b.click("button[data-action=dispatch]", "").await?;
    let department = b
        .wait_for(
            "form[data-action-form=dispatch] select[name=department]",
            "",
        )
        .await?;
    thirtyfour::components::SelectElement::new(&department)
        .await?
        .select_by_value("ajz")
        .await?;
    b.click(
        "form[data-action-form=dispatch] input[name=co_departments][value=pcs]",
        "",
    )
    .await?;
    b.click("form[data-action-form=dispatch] button[type=submit]", "")
        .await?;
    b.wait_for("#timeline li[data-event=dispatch]", "").await?;
    b.wait_for("#case-department", "安全生产监督站").await?;
    b.wait_for("#case-department", "和平派出所（协办站所）")
        .await?;
    b.shot("dispatched-to-department").await?;

    // The department's staff resolve it from their console.
    b.sign_out().await?;
    b.sign_in(app, "dept-ajz", DEMO_PASSWORD).await?;
    b.driver().goto(app.url("/console/#/tasks")).await?;
    b.click(&format!("a[data-task='{loop_case}']"), "私拉电线")
        .await?;
    b.case_action("resolve", Some("已拆除私拉电线，告知住户到集中充电点充电"))
        .await?;
    b.shot("department-resolved").await?;

    // The grid worker re-checks on site from the phone (someone other than the resolver) and
    // photographs the corridor, a photo the phone has not uploaded yet.
    phone.sync(app).await?;
    let recheck_at = gridbook_tests_now();
    let situation = jpeg(480, 640, 90);
    let overview = photo(
        &situation,
        &phone,
        sync_core::models::AttachmentStage::Situation,
        "楼道全景",
        recheck_at,
    );
    phone
        .replica
        .update(&loop_case, recheck_at, |k: &mut Case| {
            k.rectification = Some(sync_core::models::case::Rectification {
                measure: "拆除私拉电线".into(),
                responsible: "安监站".into(),
                due: None,
                recheck: Some(sync_core::models::case::Recheck {
                    at: recheck_at,
                    by: worker.id.clone(),
                    result: sync_core::models::case::RecheckResult::Passed,
                    note: Some("复查合格".into()),
                }),
            });
            k.attachments.push(overview.clone());
        })?;
    phone.sync(app).await?;

    // The community supervisor sees that verifying needs a photo after rectification, and the
    // server's refusal when trying without one.
    b.sign_out().await?;
    b.sign_in(app, "dzk-sup", DEMO_PASSWORD).await?;
    b.driver()
        .goto(app.url(&format!("/console/#/cases/{loop_case}")))
        .await?;
    b.wait_for("#needs-after-photo", "整改后照片").await?;
    b.wait_for("[data-stage-column=after]", "暂无照片").await?;
    b.click("button[data-action=verify_pass]", "").await?;
    b.click("form[data-action-form=verify_pass] button[type=submit]", "")
        .await?;
    b.wait_for("#verify-refused", "隐患须有整改后照片").await?;

    // The worker photographs the place after rectification, the phone uploads it, and the
    // worker verifies.
    let after = jpeg(640, 480, 160);
    let verified_at = gridbook_tests_now();
    let after_ref = photo(
        &after,
        &phone,
        sync_core::models::AttachmentStage::After,
        "电线已拆除，楼道畅通",
        verified_at,
    );
    phone
        .replica
        .update(&loop_case, verified_at, |k: &mut Case| {
            k.attachments.push(after_ref.clone());
            k.events.push(sync_core::workflow::new_event(
                worker.id.clone(),
                Role::GridWorker,
                CaseAction::VerifyPass,
                verified_at,
            ));
        })?;
    phone.sync(app).await?;
    put_photo(app, &phone, &after).await?;
    b.driver().refresh().await?;
    b.wait_for("#timeline li[data-event=verify_pass]", "")
        .await?;
    // 整改前 | 整改后 side by side, each a thumbnail fetched with the token; the photo not
    // uploaded yet a placeholder.
    b.wait_for("[data-stage-column=before] h3", "整改前")
        .await?;
    b.wait_for("[data-stage-column=after] h3", "整改后").await?;
    b.wait_for("[data-stage-column=after] figcaption", "电线已拆除")
        .await?;
    b.wait_for("[data-stage-column=after] figcaption", "wang")
        .await?;
    for column in ["before", "after"] {
        wait_for_picture(
            b,
            &format!("[data-stage-column={column}] button[data-open] img"),
        )
        .await?;
    }
    b.wait_for("#photos [data-missing]", "照片尚未上传").await?;
    assert!(
        b.driver()
            .find_all(By::Css("#needs-after-photo"))
            .await?
            .is_empty()
    );
    b.driver()
        .execute(
            "document.getElementById('before-after').scrollIntoView();",
            Vec::new(),
        )
        .await?;
    b.shot("hazard-photos").await?;
    // The viewer: the full-size photo in a dialog; Esc closes it.
    b.click("[data-stage-column=after] button[data-open]", "")
        .await?;
    b.wait_for("#photo-viewer", "电线已拆除").await?;
    let size = wait_for_picture(b, "#photo-viewer img").await?;
    assert_eq!(size, 640, "the viewer shows the photo at full size");
    b.shot("photo-viewer").await?;
    b.driver()
        .action_chain()
        .send_keys(Key::Escape)
        .perform()
        .await?;
    let started = Instant::now();
    while !b
        .driver()
        .find_all(By::Css("#photo-viewer"))
        .await?
        .is_empty()
    {
        anyhow::ensure!(started.elapsed() < PATIENCE, "Esc did not close the viewer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.click("button[data-action=close]", "").await?;
    b.click("form[data-action-form=close] button[type=submit]", "")
        .await?;
    b.wait_for("#case-state", "已结案").await?;
    b.shot("loop-closed").await?;
    liaison_phone.sync(app).await?;
    let outcome: sync_core::models::Report = liaison_phone
        .replica
        .document(&report_id)
        .context("the report on the liaison's phone")?
        .read()?;
    assert_eq!(
        outcome.triage.and_then(|t| t.case),
        Some(loop_case.clone()),
        "the liaison sees their report accepted as a case"
    );
    assert!(
        liaison_phone.replica.document(&loop_case).is_none(),
        "the case stays off the liaison's phone"
    );

    // 三资: the dashboard lists the lease running out in 45 days; the 三资 page lists the
    // community's assets with the year's figures; an asset's page shows its leases (the
    // expiring one marked), the months and the ledger.
    b.driver().goto(app.url("/console/#/")).await?;
    b.wait_for("#expiring-leases tbody tr", "冉记粉馆").await?;
    b.click("nav a[data-nav=assets]", "").await?;
    b.wait_for("#asset-list a[data-asset]", "丁字口社区临街门面")
        .await?;
    b.wait_for("[data-figure=income_fen] .value", "¥").await?;
    b.shot("assets").await?;
    b.click("#asset-list a[data-asset]", "丁字口社区临街门面")
        .await?;
    b.wait_for("#asset-name", "丁字口社区临街门面").await?;
    b.wait_for("#leases [data-lease-state=expiring]", "即将到期")
        .await?;
    b.wait_for("#ledger tbody tr", "门面租金").await?;
    b.wait_for("svg .bar.income", "").await?;
    b.shot("asset").await?;

    // 工作月报: the community's report for the last month that ended, its summary, its
    // figures named by the vocabulary (时点数 apart from 本月数), its grids, and its files.
    b.click("nav a[data-nav=reports]", "").await?;
    b.wait_for("#report-title", "丁字口社区").await?;
    b.wait_for("#report-title", "网格化服务管理工作月报")
        .await?;
    b.wait_for("#report-summary p", "调处矛盾纠纷").await?;
    b.wait_for("#report-as-of [data-figure=liaisons] .label", "联户长")
        .await?;
    b.wait_for(
        "#report-month [data-figure=disputes_mediated] .label",
        "调处矛盾纠纷（起）",
    )
    .await?;
    b.wait_for("#report-grids tbody tr", "丁字口社区第1网格")
        .await?;
    b.wait_for("#report-pdf", "PDF").await?;
    b.shot("monthly-report").await?;

    // 导入户籍花名册: a roster of two households with one bad ID number, imported with
    // "write the valid rows": the progress bar, the summary and the problem's reason.
    let roster_dir = tempfile::tempdir()?;
    let roster = roster_dir.path().join("花名册.csv");
    let good = resident_with_id_number("冉德明", "19560301").2;
    let spouse = resident_with_id_number("田春梅", "19600512").2;
    let mut bad = resident_with_id_number("冉小红", "19900101").2;
    let last = bad.pop();
    bad.push(if last == Some('0') { '1' } else { '0' });
    std::fs::write(
        &roster,
        format!(
            "户主,姓名,性别,与户主关系,身份证号,小区,楼栋,单元,门牌\n\
             冉德明,冉德明,男,户主,{good},乌江水岸,9,1,101\n\
             冉德明,田春梅,男,配偶,{spouse},乌江水岸,9,1,101\n\
             冉德明,冉小红,男,子女,{bad},乌江水岸,9,1,101\n"
        ),
    )?;
    b.click("nav a[data-nav=import]", "").await?;
    b.type_into("#import-form input[name=grid]", "dzk-01")
        .await?;
    b.wait_for("#import-form input[name=file]", "")
        .await?
        .send_keys(roster.to_string_lossy())
        .await?;
    b.click("#import-form input[name=partial]", "").await?;
    b.click("#import-start", "").await?;
    b.wait_for(
        "#import-summary[data-state=done] [data-count=households_created]",
        "1",
    )
    .await?;
    b.wait_for("#import-summary [data-count=invalid_rows]", "1")
        .await?;
    b.wait_for("#import-summary [data-count=residents_created]", "2")
        .await?;
    b.wait_for("#import-summary [data-count=residents_updated]", "0")
        .await?;
    b.wait_for(
        "#import-summary [data-problem=id_number_check_digit]",
        "身份证号校验位错误",
    )
    .await?;
    b.wait_for("#import-report", "").await?;
    b.shot("import").await?;

    // 7. The administrator finds the reveal, with its reason, in the audit log.
    b.sign_out().await?;
    b.sign_in(app, "admin", DEMO_PASSWORD).await?;
    b.driver()
        .goto(app.url("/console/#/audit?action=reveal"))
        .await?;
    let row = b.wait_for("tbody tr", "核实低保申请").await?;
    let text = row.text().await?;
    assert!(text.contains("dzk-sup"), "{text}");
    assert!(text.contains("residents[0].id_number"), "{text}");
    assert!(
        !text.contains(&id_number),
        "the audit log shows the value: {text}"
    );
    b.shot("audit").await?;
    b.driver()
        .goto(app.url("/console/#/audit?action=export"))
        .await?;
    b.wait_for("tbody tr [data-audit-action=export]", "")
        .await?;
    b.wait_for("tbody tr", "dzk-sup").await?;

    // 8. The county office reads every street's figures, counts only: no list to open.
    b.sign_out().await?;
    b.sign_in(app, "county", DEMO_PASSWORD).await?;
    b.wait_for("#streets tbody tr", "和平街道").await?;
    let nav: Vec<String> = {
        let mut keys = Vec::new();
        for link in b.driver().find_all(By::Css("nav a[data-nav]")).await? {
            keys.push(link.attr("data-nav").await?.unwrap_or_default());
        }
        keys
    };
    assert_eq!(
        nav,
        ["dashboard"],
        "the county office's console offers the figures only"
    );
    b.shot("county").await?;
    b.sign_out().await?;
    b.shot("sign-in").await?;
    Ok(())
}

/// The phone's copy of the household holds a single value for the resolved field.
fn assert_no_conflict_left(phone: &Phone, id: &DocId) -> anyhow::Result<()> {
    let doc = phone.replica.document(id).context("held")?;
    let report = sync_core::conflicts::report(doc);
    assert!(
        report.fields.is_empty(),
        "conflicts left: {:?}",
        report.fields
    );
    Ok(())
}

/// A real JPEG photo (a colour gradient) of `width` × `height`.
fn jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([((x * 255) / width) as u8, ((y * 255) / height) as u8, seed])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&picture)
        .expect("a JPEG");
    out.into_inner()
}

/// The reference to photo `bytes` as `phone` attaches it.
fn photo(
    bytes: &[u8],
    phone: &Phone,
    stage: sync_core::models::AttachmentStage,
    caption: &str,
    at: Timestamp,
) -> sync_core::models::Attachment {
    let (width, height) = image::load_from_memory(bytes)
        .map(|p| (p.width(), p.height()))
        .unwrap_or_default();
    sync_core::models::Attachment {
        id: ItemId::new(),
        sha256: sync_core::ids::BlobHash::of(bytes),
        media_type: sync_core::models::MediaType::Jpeg,
        size: bytes.len() as u64,
        width: Some(width),
        height: Some(height),
        taken_at: at,
        device: phone.session.device.clone(),
        caption: Some(caption.into()),
        location: Some("丁字口老街9栋1单元".into()),
        stage: Some(stage),
        part: None,
    }
}

/// Uploads a photo as the phone does (`PUT /v1/blobs/{sha256}`, whole).
async fn put_photo(app: &TestApp, phone: &Phone, bytes: &[u8]) -> anyhow::Result<()> {
    let hash = sync_core::ids::BlobHash::of(bytes);
    let response = reqwest::Client::new()
        .put(app.url(&format!("/v1/blobs/{hash}")))
        .bearer_auth(&phone.session.access_token)
        .header("Content-Type", "image/jpeg")
        .body(bytes.to_vec())
        .send()
        .await?;
    let status = response.status().as_u16();
    anyhow::ensure!(status == 201, "upload: {status} {}", response.text().await?);
    Ok(())
}

/// Waits until the image at `css` shows a picture from an object URL; its natural width.
async fn wait_for_picture(b: &Browser, css: &str) -> anyhow::Result<i64> {
    let started = Instant::now();
    loop {
        let ret = b
            .driver()
            .execute(
                "const i = document.querySelector(arguments[0]); \
                 return i && i.complete && i.src.startsWith('blob:') ? i.naturalWidth : 0;",
                vec![serde_json::json!(css)],
            )
            .await?;
        let width = ret.json().as_i64().unwrap_or(0);
        if width > 0 {
            return Ok(width);
        }
        if started.elapsed() > PATIENCE {
            let body = b.driver().find(By::Tag("body")).await?.text().await?;
            bail!("no picture at {css} after {PATIENCE:?}; the page says:\n{body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The device clock now.
fn gridbook_tests_now() -> Timestamp {
    Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    )
}
