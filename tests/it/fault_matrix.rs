//! Fault matrix (issue 5, items 1 and 2): every Image Builder and RAM operation that Create, Update and
//! Delete use, and the response PUT, fails in each way the stand-in can inject; one test per cell. Then
//! short deadlines against slow endpoints.
//!
//! Every cell checks the same contract: exactly one SUCCESS/FAILED body reached the ResponseURL before
//! the deadline (measured with `Instant`); the end state matches the answer (policy, share, featureSet,
//! number of customer-managed permissions); a FAILED `Reason` is actionable (the recipe, what went
//! wrong, which CloudWatch Logs to read) and its `PhysicalResourceId` keeps CloudFormation's next
//! request safe; retries are bounded (the calls are counted, so a retry storm fails the cell). After a
//! FAILED answer the cell sends what comes next (the rollback Delete, the Update again, the Delete
//! again) without faults and checks that it converges.

use crate::common::*;
use serde_json::{Value, json};
#[allow(unused_imports)]
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Update,
    Delete,
}

impl Kind {
    fn file(self) -> &'static str {
        match self {
            Kind::Create => "cfn-create.json",
            Kind::Update => "cfn-update-same-arn.json",
            Kind::Delete => "cfn-delete.json",
        }
    }

    /// The operations the request calls (Update: of a recipe that is already shared).
    fn ops(self) -> &'static [&'static str] {
        match self {
            Kind::Create => &[
                "GetImageRecipe",
                "ListResources",
                "PutImageRecipePolicy",
                "PromoteResourceShareCreatedFromPolicy",
                "ListResourceSharePermissions",
                "PromotePermissionCreatedFromPolicy",
                "GetResourceShares",
                "TagResource",
            ],
            Kind::Update => &[
                "GetImageRecipe",
                "ListResources",
                "GetResourceShares",
                "GetResourceShareAssociations",
            ],
            Kind::Delete => &["ListResources", "GetResourceShares", "DeleteResourceShare"],
        }
    }
}

fn is_imagebuilder(op: &str) -> bool {
    op.ends_with("ImageRecipePolicy") || op == "GetImageRecipe"
}

/// The error code a throttled `op` answers.
fn throttle_code(op: &str) -> &'static str {
    if is_imagebuilder(op) {
        "CallRateLimitExceededException"
    } else {
        "ThrottlingException"
    }
}

/// Endlessly throttled calls reaching the stand-in, at most: one retry layer, the SDK's attempts for
/// the one call that keeps failing (Image Builder's `CallRateLimitExceededException` included), never
/// multiplied by a loop of the function's own.
fn throttle_bound(_op: &str) -> usize {
    recipe_share::aws::MAX_ATTEMPTS as usize
}

/// The `PhysicalResourceId` a FAILED answer must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    /// Create failed before the policy write was sent: `recipe-share:nothing-shared:<RequestId>`.
    NothingShared,
    /// Create failed after the policy write was sent: `recipe-share:rollback:<recipe>`.
    Rollback,
    /// Update/Delete failed: the ID CloudFormation already has (the recipe ARN).
    Kept,
}

/// What a FAILED `Reason` must say, besides the recipe and where the logs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// The operation and its throttling error code.
    Throttled,
    /// That time ran out.
    Deadline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Success,
    Failed(Id, Why),
    /// Either answer, as long as it is in time; a FAILED one carries this ID and says time ran out.
    Either(Id),
}

use Expect::*;
use Id::*;
use Why::*;

/// A fault column: what is injected, and the deadline.
struct Column {
    fault: Fault,
    deadline: Duration,
}

mod column {
    use super::*;

    fn col(fault: Fault, deadline_ms: u64) -> Column {
        Column {
            fault,
            deadline: Duration::from_millis(deadline_ms),
        }
    }
    pub fn throttle_twice() -> Column {
        col(Fault::Throttle { times: 2 }, 20_000)
    }
    pub fn throttle_forever() -> Column {
        col(Fault::Throttle { times: 10_000 }, 3_000)
    }
    pub fn server_500_twice() -> Column {
        col(Fault::ServerError { times: 2, status: 500 }, 20_000)
    }
    pub fn server_503_twice() -> Column {
        col(Fault::ServerError { times: 2, status: 503 }, 20_000)
    }
    pub fn latency_300ms() -> Column {
        col(Fault::Latency(Duration::from_millis(300)), 20_000)
    }
    /// The SDK abandons an unanswered attempt only after 10 s, so within a 3 s deadline the handler's
    /// cut-off at the deadline minus the reserve (3 s / 5 = 600 ms) ends it, and the answer is FAILED
    /// "ran out of time", naming the call it was waiting for, sent about 2.4 s in.
    pub fn hang_once() -> Column {
        col(Fault::Hang { times: 1 }, 3_000)
    }
    /// The connection closes without an answer: an I/O error the SDK retries on a new connection.
    pub fn reset_once() -> Column {
        col(Fault::Reset { times: 1 }, 20_000)
    }
}

/// A harness holding R1, already shared by a fault-free Create for Update and Delete.
async fn prepared(kind: Kind) -> Harness {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    if kind != Kind::Create {
        let setup = h.cfn(h.event("cfn-create.json", "setup")).await;
        assert_eq!(setup["Status"], "SUCCESS", "{setup}");
    }
    h
}

/// Invokes `event` and returns the one response body it PUT, after checking that the PUT was answered
/// 200, that it was the only one, and that the invocation ended before the deadline.
async fn answered(h: &Harness, event: Value, deadline: Duration) -> Value {
    let before = h.standin.responses().len();
    let started = Instant::now();
    let out = h.invoke(event, deadline).await;
    let elapsed = started.elapsed();
    assert!(elapsed < deadline, "answered after {elapsed:?}, deadline {deadline:?}");
    let out = out.expect("the response was delivered");
    let sent = &h.standin.responses()[before..];
    assert_eq!(sent.len(), 1, "exactly one response PUT: {sent:?}");
    assert_eq!(sent[0].status_sent, 200);
    let resp = sent[0].json.clone().expect("response body is JSON");
    assert!(resp["Status"] == "SUCCESS" || resp["Status"] == "FAILED", "{resp}");
    assert_eq!(out["Status"], resp["Status"]);
    resp
}

/// R1 is shared by the standard as RAM records it (one ACTIVE STANDARD managed share with exactly the
/// standard's principals: the one the answer names, if given), with the one customer-managed
/// permission promotion made.
fn assert_shared(h: &Harness, resp: Option<&Value>) {
    let share = assert_shared_by_standard(h, R1, &["111122223333", "444455556666"]);
    if let Some(resp) = resp {
        assert_eq!(resp["Data"]["ResourceShareArn"], share.as_str(), "{resp}");
        assert_eq!(resp["Data"]["ImageRecipeArn"], R1);
    }
    assert_eq!(h.standin.snapshot().customer_permissions(), 1);
}

/// Nothing holds R1: no ACTIVE share, no policy.
fn assert_unshared(h: &Harness) {
    let snap = h.standin.snapshot();
    assert!(snap.shares_of(R1).is_empty(), "{:?}", snap.shares);
    assert!(snap.policy_of(R1).is_none());
}

/// Checks the answer to `kind` against `expect`, the end state, and what comes next after a FAILED.
/// `op` is the faulted operation, named by a throttling Reason.
async fn check(h: &Harness, kind: Kind, op: &str, request_id: &str, resp: &Value, expect: Expect) {
    let (id, why) = match expect {
        Failed(id, why) => (id, why),
        Either(id) if resp["Status"] == "FAILED" => (id, Deadline),
        Success | Either(_) => {
            assert_eq!(resp["Status"], "SUCCESS", "{resp}");
            assert_eq!(resp["PhysicalResourceId"], R1);
            match kind {
                Kind::Create | Kind::Update => assert_shared(h, Some(resp)),
                Kind::Delete => assert_unshared(h),
            }
            return;
        }
    };
    assert_eq!(resp["Status"], "FAILED", "{resp}");
    let reason = resp["Reason"].as_str().unwrap();
    let needles = match why {
        Throttled => vec![op, throttle_code(op)],
        Deadline => vec!["ran out of time"],
    };
    for needle in [R1, "CloudWatch Logs"].into_iter().chain(needles) {
        assert!(reason.contains(needle), "the Reason lacks {needle:?}: {reason}");
    }
    let got = resp["PhysicalResourceId"].as_str().unwrap().to_string();
    let id = match id {
        NothingShared => format!("recipe-share:nothing-shared:{request_id}"),
        // The recipe, then the shares the failed Create made (so the rollback can delete them
        // even if they were never tagged).
        Rollback => {
            let rest = got
                .strip_prefix(&format!("recipe-share:rollback:{R1}"))
                .expect("a rollback ID");
            assert!(rest.split('|').skip(1).all(|s| s.contains(":resource-share/")), "{got}");
            got.clone()
        }
        Kept => R1.to_string(),
    };
    assert_eq!(got, id, "{resp}");
    h.standin.clear_faults();
    match kind {
        // CloudFormation's rollback Delete of the failed Create: a no-op, or an undo.
        Kind::Create => {
            if id.starts_with("recipe-share:nothing-shared:") {
                assert_unshared(h);
            }
            let mut delete = h.event("cfn-delete.json", "rollback");
            delete["PhysicalResourceId"] = json!(id);
            let resp = h.cfn(delete).await;
            assert_eq!(resp["Status"], "SUCCESS", "{resp}");
            assert_eq!(resp["PhysicalResourceId"], id.as_str());
            assert_unshared(h);
        }
        // The recipe was shared before the Update and still is; the Update sent again succeeds.
        Kind::Update => {
            assert_shared(h, None);
            let resp = h.cfn(h.event("cfn-update-same-arn.json", "again")).await;
            assert_eq!(resp["Status"], "SUCCESS", "{resp}");
            assert_shared(h, Some(&resp));
        }
        // A fault kept the share (nothing half-deleted); with only slowness the deadline may have cut
        // off a DeleteResourceShare that RAM carried out. Either way the Delete sent again unshares.
        Kind::Delete => {
            if matches!(expect, Failed(..)) {
                assert_shared(h, None);
            }
            let resp = h.cfn(h.event("cfn-delete.json", "again")).await;
            assert_eq!(resp["Status"], "SUCCESS", "{resp}");
            assert_unshared(h);
        }
    }
}

/// One cell of the matrix: `column`'s fault on `op` during a `kind` request.
async fn cell(kind: Kind, op: &str, column: Column, expect: Expect) {
    let h = prepared(kind).await;
    let calls_before = h.standin.calls().len();
    h.standin.fault(op, column.fault.clone());
    let event = h.event(kind.file(), "cell");
    let request_id = event["RequestId"].as_str().unwrap().to_string();
    let resp = answered(&h, event, column.deadline).await;
    let calls = &h.standin.calls()[calls_before..];
    let tries = calls.iter().filter(|c| c.op == op).count();
    let aws = calls.iter().filter(|c| c.op != "CfnResponse").count();
    assert!(tries >= 1, "the faulted operation was called");
    let bound = match column.fault {
        Fault::Throttle { times: 10_000 } => throttle_bound(op),
        // The injected failures plus the fault-free calls (at most 3, GetResourceShares' polls).
        Fault::Throttle { times }
        | Fault::ServerError { times, .. }
        | Fault::Hang { times }
        | Fault::Reset { times } => times as usize + 3,
        _ => 3,
    };
    assert!(tries <= bound, "{tries} calls of {op} (at most {bound}): a retry storm");
    assert!(aws <= bound + 12, "{aws} AWS calls in all");
    check(&h, kind, op, &request_id, &resp, expect).await;
}

/// The table: one module per (request, operation) row, one test per fault column.
macro_rules! matrix {
    (@cell $kind:ident $op:literal $col:ident $expect:expr) => {
        #[tokio::test]
        async fn $col() {
            cell(Kind::$kind, $op, column::$col(), $expect).await;
        }
    };
    ($($row:ident: $kind:ident $op:literal { $($col:ident: $expect:expr),* $(,)? })*) => {$(
        mod $row {
            use super::*;
            $(matrix!(@cell $kind $op $col $expect);)*
        }
    )*};
}

matrix! {
    // The first look (the recipe and RAM's shares) comes before any change: a failure there leaves
    // nothing to undo (nothing-shared).
    create_get_recipe: Create "GetImageRecipe" {
        throttle_twice: Success, throttle_forever: Failed(NothingShared, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(NothingShared, Deadline), reset_once: Success,
    }
    create_list_resources: Create "ListResources" {
        throttle_twice: Success, throttle_forever: Failed(NothingShared, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(NothingShared, Deadline), reset_once: Success,
    }
    // A refused write changed nothing (nothing-shared); an unanswered one may have (rollback).
    create_put_policy: Create "PutImageRecipePolicy" {
        throttle_twice: Success, throttle_forever: Failed(NothingShared, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(Rollback, Deadline), reset_once: Success,
    }
    create_promote_share: Create "PromoteResourceShareCreatedFromPolicy" {
        throttle_twice: Success, throttle_forever: Failed(Rollback, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(Rollback, Deadline), reset_once: Success,
    }
    create_list_share_permissions: Create "ListResourceSharePermissions" {
        throttle_twice: Success, throttle_forever: Failed(Rollback, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(Rollback, Deadline), reset_once: Success,
    }
    create_promote_permission: Create "PromotePermissionCreatedFromPolicy" {
        throttle_twice: Success, throttle_forever: Failed(Rollback, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(Rollback, Deadline), reset_once: Success,
    }
    create_get_shares: Create "GetResourceShares" {
        throttle_twice: Success, throttle_forever: Failed(Rollback, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(Rollback, Deadline), reset_once: Success,
    }
    create_tag: Create "TagResource" {
        throttle_twice: Success, throttle_forever: Failed(Rollback, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(Rollback, Deadline), reset_once: Success,
    }
    update_get_recipe: Update "GetImageRecipe" {
        throttle_twice: Success, throttle_forever: Failed(Kept, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(Kept, Deadline), reset_once: Success,
    }
    update_list_resources: Update "ListResources" {
        throttle_twice: Success, throttle_forever: Failed(Kept, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(Kept, Deadline), reset_once: Success,
    }
    update_get_shares: Update "GetResourceShares" {
        throttle_twice: Success, throttle_forever: Failed(Kept, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(Kept, Deadline), reset_once: Success,
    }
    update_get_associations: Update "GetResourceShareAssociations" {
        throttle_twice: Success, throttle_forever: Failed(Kept, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(Kept, Deadline), reset_once: Success,
    }
    // ListResources: the recipe's shares, then the share's resources; the fault hits the first call.
    delete_list_resources: Delete "ListResources" {
        throttle_twice: Success, throttle_forever: Failed(Kept, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(Kept, Deadline), reset_once: Success,
    }
    delete_get_shares: Delete "GetResourceShares" {
        throttle_twice: Success, throttle_forever: Failed(Kept, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(Kept, Deadline), reset_once: Success,
    }
    delete_share: Delete "DeleteResourceShare" {
        throttle_twice: Success, throttle_forever: Failed(Kept, Throttled),
        server_500_twice: Success, server_503_twice: Success, latency_300ms: Success,
        hang_once: Failed(Kept, Deadline), reset_once: Success,
    }
}

/// What a Create must get to the ResponseURL when the PUT itself fails.
enum Delivery {
    /// Delivered in time, after PUTs answered with these statuses (0: hung up or reset).
    Delivered(&'static [u16]),
    /// Not delivered: the invocation returns an error containing this, before the deadline, after at
    /// most 10 PUTs, all answered with this status, so that Lambda's retry can deliver it.
    NotDelivered(&'static str, u16),
}

/// One response cell: a Create whose response PUTs meet `fault`.
async fn response_cell(fault: Fault, deadline: Duration, expect: Delivery) {
    let h = prepared(Kind::Create).await;
    h.standin.fault("CfnResponse", fault);
    let started = Instant::now();
    let out = h.invoke(h.event("cfn-create.json", "put"), deadline).await;
    let elapsed = started.elapsed();
    assert!(elapsed < deadline, "returned after {elapsed:?}, deadline {deadline:?}");
    let sent = h.standin.responses();
    assert!(!sent.is_empty() && sent.len() <= 10, "{} PUTs", sent.len());
    for put in &sent {
        // Every PUT carries the same answer: the work succeeded, only its delivery was in trouble.
        assert_eq!(put.body, sent[0].body, "every retry sends the same body");
        assert_eq!(put.json.as_ref().unwrap()["Status"], "SUCCESS");
    }
    let statuses: Vec<u16> = sent.iter().map(|r| r.status_sent).collect();
    match expect {
        Delivery::Delivered(want) => {
            let out = out.expect("delivered");
            assert_eq!(statuses, want);
            assert_eq!(out["Attempts"], want.len());
        }
        Delivery::NotDelivered(needle, status) => {
            assert!(statuses.iter().all(|s| *s == status), "{statuses:?}");
            let err = out.expect_err("not delivered").to_string();
            assert!(err.contains(needle), "{err}");
            assert!(
                !err.contains(h.standin.response_secret()),
                "the error never shows the URL"
            );
        }
    }
    assert_shared(&h, Some(sent.last().unwrap().json.as_ref().unwrap()));
}

macro_rules! response_cells {
    ($($name:ident: $fault:expr, $deadline_ms:literal ms => $expect:expr;)*) => {
        mod response_put {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    response_cell($fault, Duration::from_millis($deadline_ms), $expect).await;
                }
            )*
        }
    };
}

response_cells! {
    server_500_twice: Fault::ServerError { times: 2, status: 500 }, 20_000 ms => Delivery::Delivered(&[500, 500, 200]);
    reset_once: Fault::Reset { times: 1 }, 20_000 ms => Delivery::Delivered(&[0, 200]);
    forbidden_forever: Fault::Error { times: 10_000, status: 403, code: "AccessDenied".into(), message: "Request has expired".into() },
        3_000 ms => Delivery::NotDelivered("HTTP 403", 403);
    // Each PUT gets half the time left (at least 0.5 s), so a stalled connection leaves room for a retry.
    hang_once: Fault::Hang { times: 1 }, 5_000 ms => Delivery::Delivered(&[0, 200]);
}

/// Deadline budget: every operation `kind` calls answers 400 ms late, and the response URL 200 ms late.
async fn budget_cell(kind: Kind, deadline: Duration) {
    let h = prepared(kind).await;
    let calls_before = h.standin.calls().len();
    for op in kind.ops() {
        h.standin.fault(op, Fault::Latency(Duration::from_millis(400)));
    }
    h.standin
        .fault("CfnResponse", Fault::Latency(Duration::from_millis(200)));
    let event = h.event(kind.file(), "budget");
    let request_id = event["RequestId"].as_str().unwrap().to_string();
    let resp = answered(&h, event, deadline).await;
    // 400 ms a call: no more calls than fit in the deadline.
    let aws = h.standin.calls()[calls_before..]
        .iter()
        .filter(|c| c.op != "CfnResponse")
        .count();
    assert!(aws as u128 <= deadline.as_millis() / 400 + 1, "{aws} AWS calls");
    let id = if kind == Kind::Create { Rollback } else { Kept };
    check(&h, kind, "", &request_id, &resp, Either(id)).await;
}

macro_rules! budget_cells {
    ($($name:ident: $kind:ident, $deadline_ms:literal ms;)*) => {
        mod deadline_budget {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    budget_cell(Kind::$kind, Duration::from_millis($deadline_ms)).await;
                }
            )*
        }
    };
}

budget_cells! {
    create_2s: Create, 2_000 ms;
    create_5s: Create, 5_000 ms;
    update_2s: Update, 2_000 ms;
    delete_2s: Delete, 2_000 ms;
}
