//! recipe-share benchmarks against the local stand-in: measures, then writes `benches/RESULTS.md` as tables of
//! numbers (run by `scripts/bench.sh`, which builds this and the release `bootstrap` in one release build).
//!
//! Parts (`BENCH_PARTS`, comma list, default all): `cold`, `warm`, `calls`, `rss`, `zip`, `tls`, `sweep`. Other
//! knobs: `BENCH_COLD_SPAWNS` (30), `BENCH_WARM_CREATES` (100), `BENCH_RSS_EVENTS` (1000), `BENCH_TLS_RUNS` (10),
//! `BENCH_SWEEP_RECIPES` (10000), `BENCH_OUT` (benches/RESULTS.md), `BENCH_BOOTSTRAP` (the release binary).
//! Every server is on 127.0.0.1, every wait is bounded, and every child process is killed by a Drop guard.

use lambda_runtime::{Context, LambdaEvent};
use recipe_share::App;
use recipe_share::config::Config;
use recipe_share_standin::runtime_api::{InvocationKind, RuntimeApi};
use recipe_share_standin::{Fault, Options, ROUTES, RateLimit, StandIn};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:recipe-share";
const RECIPE_PREFIX: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/";
const ACCOUNTS: &str = "111122223333,444455556666";
const WITH_ORG: &str = "111122223333,444455556666,arn:aws:organizations::111122223333:organization/o-abcdefghij";
/// What Lambda sets for every `bootstrap` run besides the endpoints, with throwaway credentials.
const FUNCTION_ENV: &str = "AWS_LAMBDA_FUNCTION_NAME=recipe-share AWS_LAMBDA_FUNCTION_VERSION=$LATEST \
    AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=ASIALOCALBENCH AWS_SECRET_ACCESS_KEY=local-bench-secret \
    AWS_SESSION_TOKEN=local-bench-session AWS_EC2_METADATA_DISABLED=true SHARE_PRINCIPALS=111122223333,444455556666";
/// The latency added to every AWS call for the warm figure; its floor is 5 sequential round trips of it.
const LATENCY: Duration = Duration::from_millis(20);
const FLOOR_ROUND_TRIPS: u32 = 5;
/// For counting round trips: long enough that the function's own time never adds up to one more.
const RT_LATENCY: Duration = Duration::from_millis(50);
/// The bound on any single wait (a poll, a PUT, a result), and the deadline each event gets.
const WAIT: Duration = Duration::from_secs(60);
const SWEEP_DEADLINE: Duration = Duration::from_secs(900);
const RATE: u32 = 150;
const CPU_QUOTA_US: u64 = 7_000;
const CPU_PERIOD_US: u64 = 100_000;
const CPU_TARGET_MS: f64 = 40.0;
/// The unit of /proc/<pid>/stat's times: USER_HZ, fixed at 100 by the kernel's ABI whatever its own HZ.
const USER_HZ: f64 = 100.0;

/// Case | fixture | recipe. `first` is the account's first recipe; `new` and `trail` are only added after the
/// report sweep, so that sweep reads the already-shared recipe alone. The refused delete comes last: it unshares.
const CASES: &str = "\
    CFN Create, first recipe of the account | cfn-create.json | first
    CFN Create again, already shared | cfn-create.json | first
    CFN Update same ARN, already shared | cfn-update-same-arn.json | first
    CloudTrail CreateImageRecipe again, already shared | eventbridge-create-image-recipe.json | first
    report sweep of the one already-shared recipe | sweep-report.json | first
    CFN Create, new recipe | cfn-create.json | new
    CloudTrail CreateImageRecipe, new recipe | eventbridge-create-image-recipe.json | trail
    CFN Delete of a shared recipe | cfn-delete.json | new
    CloudTrail refused DeleteImageRecipe, shared | eventbridge-delete-image-recipe-refused.json | first";
/// The recipes the fixtures name, each replaced by the recipe of the case.
const FIXTURE_RECIPES: [&str; 2] = [
    "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web-server/1.0.0",
    "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/hardened-al2023/2.3.0",
];

fn knob(name: &str, default: usize) -> usize {
    let value = std::env::var(name).ok().and_then(|v| v.trim().parse().ok());
    value.unwrap_or(default)
}

struct Bench {
    root: PathBuf,
    bootstrap: PathBuf,
    tmp: PathBuf,
    serial: std::cell::Cell<usize>,
}

impl Bench {
    /// Where the TLS stand-in's CA certificate is written, for `SSL_CERT_FILE`.
    fn ca(&self) -> PathBuf {
        self.tmp.join("standin-ca.pem")
    }

    fn next(&self) -> usize {
        self.serial.set(self.serial.get() + 1);
        self.serial.get()
    }

    /// A fresh recipe, added to `standin`.
    fn new_recipe(&self, standin: &StandIn) -> String {
        let arn = format!("{RECIPE_PREFIX}bench-{:06}/1.0.0", self.next());
        standin.add_recipe(&arn);
        arn
    }

    /// The fixture `file` from `events/` about `recipe`, its ResponseURL (if it has one) at `put`.
    fn event(&self, file: &str, put: &StandIn, recipe: &str) -> Value {
        let mut text = std::fs::read_to_string(self.root.join("events").join(file)).expect("fixture");
        for fixture_recipe in FIXTURE_RECIPES {
            text = text.replace(fixture_recipe, recipe);
        }
        let mut e: Value = serde_json::from_str(&text).expect("fixture JSON");
        if e.get("ResponseURL").is_some() {
            let n = self.next();
            e["ResponseURL"] = json!(put.response_url(&format!("r-{n}")));
            e["RequestId"] = json!(format!("00000000-0000-4000-8000-{n:012}"));
        }
        e
    }
}

// --- numbers -----------------------------------------------------------------------------------------------

struct Stats {
    n: usize,
    med: f64,
    p99: f64,
    max: f64,
}

/// Median (mean of the middle two for an even count) and nearest-rank p99.
fn stats(mut v: Vec<f64>) -> Stats {
    assert!(!v.is_empty(), "no samples");
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let med = (v[(n - 1) / 2] + v[n / 2]) / 2.0;
    let rank = ((0.99 * n as f64).ceil() as usize).clamp(1, n);
    let (p99, max) = (v[rank - 1], v[n - 1]);
    Stats { n, med, p99, max }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn yes(met: bool) -> &'static str {
    if met { "yes" } else { "no" }
}

/// Every AWS operation the stand-in counts (TagResource is one name for both services), plus Lambda Invoke.
fn aws_ops() -> Vec<&'static str> {
    let mut ops: Vec<&'static str> = ROUTES.iter().map(|r| r.op).chain(["Invoke"]).collect();
    ops.sort();
    ops.dedup();
    ops
}

fn aws_calls(standin: &StandIn) -> usize {
    aws_ops().iter().map(|op| standin.call_count(op)).sum()
}

fn set_latency(standin: &StandIn, latency: Duration) {
    standin.clear_faults();
    for op in aws_ops() {
        standin.fault(op, Fault::Latency(latency));
    }
}

/// Promotion instant and the AWS-managed permission matching: a new recipe needs no permission step.
fn opts() -> Options {
    Options {
        promotion_time: Duration::ZERO,
        aws_managed_permission_matches: true,
        ..Options::default()
    }
}

// --- the bootstrap process ---------------------------------------------------------------------------------

/// The release `bootstrap` under the Runtime API emulator; killed and reaped however the bench ends.
struct Function(Child);

impl Function {
    /// AWS calls go to `aws`, the response URL prefix admitted is `put`'s; `cg` limits its CPU from the start.
    fn spawn(b: &Bench, api: &RuntimeApi, aws: &StandIn, put: &StandIn, ca: bool, cg: Option<&CpuLimit>) -> Self {
        let log = File::create(b.tmp.join("bootstrap.log")).expect("log file");
        let memory = if cg.is_some() { "128" } else { "256" };
        let mut env: Vec<(&str, String)> = FUNCTION_ENV
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        env.extend([
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("AWS_LAMBDA_RUNTIME_API", api.addr()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory.into()),
            ("AWS_ENDPOINT_URL", aws.url()),
            ("EXTRA_RESPONSE_URL_PREFIX", put.response_prefix()),
        ]);
        if ca {
            env.push(("SSL_CERT_FILE", b.ca().display().to_string()));
        }
        let mut cmd = Command::new(&b.bootstrap);
        cmd.env_clear().envs(env).stdin(Stdio::null());
        cmd.stdout(log.try_clone().expect("log")).stderr(log);
        if let Some(cg) = cg {
            let procs = cg.procs.try_clone().expect("cgroup.procs");
            // SAFETY: runs in the forked child before exec and only write(2)s to an fd the parent opened; "0"
            // moves the writing process, so the whole start-up of the function runs under the limit.
            unsafe { cmd.pre_exec(move || (&procs).write_all(b"0")) };
        }
        let child = cmd.spawn();
        Function(child.unwrap_or_else(|e| panic!("cannot start {}: {e}", b.bootstrap.display())))
    }

    fn proc_file(&self, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{name}", self.0.id())).unwrap_or_default()
    }

    /// Peak RSS, `VmHWM` from /proc/<pid>/status, in KiB.
    fn vm_hwm_kib(&self) -> u64 {
        field(&self.proc_file("status"), "VmHWM:")
    }

    /// CPU time so far in ms: utime+stime from /proc/<pid>/stat (clock ticks, every thread, exited ones too),
    /// and the sum of the live threads' schedstat run times (nanoseconds: a finer cross-check).
    fn cpu_ms(&self) -> (f64, f64) {
        let stat = self.proc_file("stat");
        // After the command name (which may hold spaces) come field 3 (state) onwards: utime is 14, stime 15.
        let rest: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let ticks: f64 = rest[11..13].iter().filter_map(|f| f.parse::<f64>().ok()).sum();
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.0.id())).expect("/proc/<pid>/task");
        let sched_ns: f64 = tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
            .sum();
        (ticks * 1e3 / USER_HZ, sched_ns / 1e6)
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The number on the line that starts with `key` (`VmHWM:   9732 kB`, `nr_throttled 40`); 0 if none.
fn field(text: &str, key: &str) -> u64 {
    let line = text.lines().find_map(|l| l.strip_prefix(key));
    let digits: String = line.unwrap_or("").chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

/// Queues `event` and waits until its response PUT (the `n`th on `put`) arrives and the invocation's result is
/// posted; returns the time from queueing (the function is already polling) to the PUT.
fn invoke_to_put(api: &RuntimeApi, put: &StandIn, n: usize, event: &Value) -> Duration {
    let t0 = Instant::now();
    let id = api.invoke(event, WAIT, FUNCTION_ARN);
    let responses = put.wait_responses(n, WAIT);
    let took = t0.elapsed();
    let response = responses.get(n - 1).and_then(|r| r.json.clone()).unwrap_or_default();
    assert_eq!(response["Status"], "SUCCESS", "{response}");
    let result = api.wait_result(&id, WAIT).expect("the invocation is answered");
    assert_eq!(result.kind, InvocationKind::Response, "{:?}", result.json());
    took
}

// --- 1. cold start -----------------------------------------------------------------------------------------

fn cold(b: &Bench, spawns: usize) -> String {
    let standin = StandIn::start(opts());
    let mut samples = Vec::new();
    // One unmeasured spawn first, so the binary is in the page cache for every measured one.
    for i in 0..=spawns {
        let api = RuntimeApi::start();
        let t0 = Instant::now();
        let _f = Function::spawn(b, &api, &standin, &standin, false, None);
        assert!(api.wait_next_polls(1, WAIT), "bootstrap never polled (spawn {i})");
        if i > 0 {
            samples.push(ms(t0.elapsed()));
        }
    }
    let Stats { n, med, max, .. } = stats(samples);
    format!(
        "## 1. Cold start\n\nRelease `bootstrap` under the Runtime API emulator, after one unmeasured spawn.\n\n\
         | figure | n | median | max |\n| --- | --- | --- | --- |\n\
         | spawn → first `GET /next` | {n} | {med:.2} ms | {max:.2} ms |\n\n"
    )
}

// --- 2 and 4. warm Creates and peak RSS --------------------------------------------------------------------

/// One process: a warm-up Create, `creates` measured Creates with the latency, then Creates without it up to
/// `rss_events`, reading VmHWM after 50 and after `rss_events`. Returns the warm and the RSS sections.
fn warm_rss(b: &Bench, creates: Option<usize>, rss_events: Option<usize>) -> (String, String) {
    let standin = StandIn::start(opts());
    let api = RuntimeApi::start();
    let f = Function::spawn(b, &api, &standin, &standin, false, None);
    assert!(api.wait_next_polls(1, WAIT), "bootstrap never polled");
    let warm_until = creates.map_or(1, |n| n + 1);
    let (mut times, mut calls, mut hwm) = (Vec::new(), Vec::new(), BTreeMap::new());
    set_latency(&standin, LATENCY);
    for handled in 1..=warm_until.max(rss_events.unwrap_or(0)) {
        if handled == warm_until + 1 {
            standin.clear_faults(); // so the rest of the 1,000 events take seconds
        }
        let event = b.event("cfn-create.json", &standin, &b.new_recipe(&standin));
        let before = aws_calls(&standin);
        let took = invoke_to_put(&api, &standin, handled, &event);
        if handled > 1 && handled <= warm_until {
            times.push(ms(took));
            calls.push(aws_calls(&standin) - before);
        }
        if handled == 50 || Some(handled) == rss_events {
            hwm.insert(handled, f.vm_hwm_kib());
        }
    }
    let mut warm = String::new();
    if creates.is_some() {
        let Stats { n, med, p99, max } = stats(times);
        let (lat, floor) = (ms(LATENCY), ms(LATENCY) * f64::from(FLOOR_ROUND_TRIPS));
        let (lo, hi) = (calls.iter().min().unwrap_or(&0), calls.iter().max().unwrap_or(&0));
        let (med_x, p99_x) = (med / floor, p99 / floor);
        let (med_met, p99_met) = (yes(med_x <= 1.15), yes(p99_x <= 1.15));
        warm = format!(
            "## 2. Warm Create of a new recipe\n\nOne `bootstrap`, one Create of a fresh recipe per event after a \
             warm-up event, {lat} ms on every AWS call, promotion instant, AWS-managed permission matches; event \
             delivery → response PUT. Floor = {FLOOR_ROUND_TRIPS} round trips × {lat} ms = {floor} ms.\n\n\
             | n | AWS calls per Create | median | p99 | max | median / floor | p99 / floor | target | met: median, \
             p99 |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n| {n} | {lo}..{hi} | {med:.1} ms | \
             {p99:.1} ms | {max:.1} ms | {med_x:.3} | {p99_x:.3} | ≤ 1.15 × | {med_met}, {p99_met} |\n\n"
        );
    }
    let mut rss = String::new();
    if rss_events.is_some() {
        rss += "## 4. Peak RSS\n\n`VmHWM` of the one `bootstrap` process of figure 2 after the number of events \
                handled (Creates of new recipes).\n\n| events | VmHWM |\n| --- | --- |\n";
        for (n, kib) in &hwm {
            let _ = writeln!(rss, "| {n} | {kib} KiB ({:.2} MiB) |", *kib as f64 / 1024.0);
        }
        rss += "\n";
    }
    (warm, rss)
}

// --- 3. AWS calls per recipe -------------------------------------------------------------------------------

/// The real handler with real SDK clients (built as `tests/it/common.rs` builds them), aimed at a stand-in.
struct InProcess {
    standin: Arc<StandIn>,
    app: Arc<App>,
}

impl InProcess {
    async fn new(standin: Arc<StandIn>, principals: &str) -> InProcess {
        let prefix = standin.response_prefix();
        let config = Config::load(|name| match name {
            "SHARE_PRINCIPALS" => Some(principals.to_string()),
            "EXTRA_RESPONSE_URL_PREFIX" => Some(prefix.clone()),
            _ => None,
        });
        let sdk = recipe_share_standin::sdk_config(&standin.url(), "us-east-1").await;
        let app = App::new(&sdk, config);
        InProcess { standin, app }
    }

    async fn invoke(&self, event: Value, request_id: &str, deadline: Duration) -> Value {
        let mut ctx = Context::default();
        ctx.request_id = request_id.into();
        ctx.invoked_function_arn = FUNCTION_ARN.into();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        ctx.deadline = (now + deadline).as_millis() as u64;
        let out = recipe_share::handle(self.app.clone(), LambdaEvent::new(event, ctx)).await;
        out.unwrap_or_else(|e| panic!("invocation {request_id} failed: {e}"))
    }

    /// One event as a table row: calls, round trips (every call is delayed by RT_LATENCY, so the whole latencies
    /// in the elapsed time count the sequential steps), outcome, and the operations in arrival order.
    async fn case(&self, label: &str, event: Value) -> String {
        let (calls0, puts0) = (self.standin.calls().len(), self.standin.responses().len());
        let t0 = Instant::now();
        let out = self.invoke(event, label, WAIT).await;
        let round_trips = (t0.elapsed().as_secs_f64() / RT_LATENCY.as_secs_f64()).floor();
        let calls = self.standin.calls();
        let ops = calls[calls0..].iter().map(|c| c.op.as_str());
        let ops: Vec<&str> = ops.filter(|op| *op != "CfnResponse").collect();
        let outcome = match self.standin.responses().get(puts0).and_then(|p| p.json.clone()) {
            Some(response) => response["Status"].to_string(),
            None if out.get("counts").is_some() => format!("{} {}", out["status"], out["counts"]),
            None => out["outcome"].to_string(),
        };
        let (n, outcome, ops) = (ops.len(), outcome.replace('"', ""), ops.join(" → "));
        format!("| {label} | {n} | {round_trips} | {outcome} | {ops} |\n")
    }
}

async fn calls(b: &Bench) -> String {
    let rt = ms(RT_LATENCY);
    let mut md = format!(
        "## 3. AWS calls per recipe\n\nIn-process handler (`recipe_share::handle`, real SDK clients) against the \
         stand-in, **promotion instant** (`promotion_time` 0: no status polls counted), no managed permission at the \
         start (default stand-in options); round trips = ⌊elapsed / {rt} ms⌋ with {rt} ms added to every call; the \
         response PUT is not counted. Organization = `SHARE_PRINCIPALS` {WITH_ORG}.\n\n\
         | case | calls | round trips | outcome | operations in arrival order |\n| --- | --- | --- | --- | --- |\n"
    );
    let cases: Vec<Vec<&str>> = CASES.lines().map(|l| l.split('|').map(str::trim).collect()).collect();
    for (principals, tag, cases) in [
        (ACCOUNTS, "accounts", &cases[..]),
        (WITH_ORG, "organization", &cases[..6]),
    ] {
        // No managed permission matches, so the account's first recipe makes and promotes one.
        let mut opts = opts();
        opts.aws_managed_permission_matches = false;
        let standin = Arc::new(StandIn::start(opts));
        set_latency(&standin, RT_LATENCY);
        let h = InProcess::new(standin.clone(), principals).await;
        let mut recipes: BTreeMap<&str, String> = BTreeMap::new();
        for case in cases {
            let (case, file, which) = (case[0], case[1], case[2]);
            let recipe = recipes.entry(which).or_insert_with(|| b.new_recipe(&standin)).clone();
            let event = b.event(file, &standin, &recipe);
            md += &h.case(&format!("{tag}: {case}"), event).await;
        }
        if tag == "accounts" {
            md += &dependency_cases(b, &h).await;
        }
    }
    md + "\n"
}

/// Design 12: what each own dependency adds, and a container recipe.
async fn dependency_cases(b: &Bench, h: &InProcess) -> String {
    let own = "arn:aws:imagebuilder:us-east-1:123456789012:component";
    let (one, two) = (b.new_recipe(&h.standin), b.new_recipe(&h.standin));
    h.standin.add_resource(&format!("{own}/bench-cis/1.0.0/1"));
    for build in ["1.0.0/1", "1.1.0/1"] {
        h.standin.add_resource(&format!("{own}/bench-hardening/{build}"));
    }
    h.standin
        .set_recipe_contents(&one, &[&format!("{own}/bench-cis/1.0.0/1")], None);
    h.standin
        .set_recipe_contents(&two, &[&format!("{own}/bench-hardening/x.x.x")], None);
    let mut md = String::new();
    for (label, recipe) in [
        (
            "CFN Create, new recipe + 1 own component named by build version (first component)",
            &one,
        ),
        (
            "CFN Create, new recipe + own component `x.x.x` selecting 2 build versions",
            &two,
        ),
        ("CFN Create again, recipe and its 2 components already shared", &two),
    ] {
        md += &h
            .case(
                &format!("accounts: {label}"),
                b.event("cfn-create.json", &h.standin, recipe),
            )
            .await;
    }
    let container = "arn:aws:imagebuilder:us-east-1:123456789012:container-recipe/api/1.0.0";
    h.standin.add_resource(container);
    let event = b.event("eventbridge-create-container-recipe.json", &h.standin, container);
    md + &h
        .case(
            "accounts: CloudTrail CreateContainerRecipe, first container recipe",
            event,
        )
        .await
}

// --- 5. deployable zip -------------------------------------------------------------------------------------

/// `bootstrap` alone in a zip, deflate level 9 (Python's zipfile), in bytes.
fn zip_bytes(path: &Path, tmp: &Path) -> Result<u64, String> {
    let script = "import os,sys,zipfile\nwith zipfile.ZipFile(sys.argv[2],'w',zipfile.ZIP_DEFLATED,compresslevel=9) \
                  as z:\n z.write(sys.argv[1],'bootstrap')\nprint(os.path.getsize(sys.argv[2]))";
    let zip = tmp.join("function.zip");
    let out = Command::new("python3").args(["-c", script]).arg(path).arg(zip).output();
    let out = out.map_err(|e| format!("python3: {e}"))?;
    let text = String::from_utf8_lossy(if out.status.success() { &out.stdout } else { &out.stderr });
    text.trim().parse().map_err(|_| text.trim().to_string())
}

fn zip(b: &Bench, target_dir: &Path) -> String {
    let rustc = command_out("rustc", &["-vV"]);
    let host = rustc.lines().find_map(|l| l.strip_prefix("host: ")).unwrap_or("host");
    let mut md = String::from(
        "## 5. Deployable zip\n\n`bootstrap` alone in a zip (Python `zipfile`, deflate level 9). MB = 10⁶ bytes.\n\n\
         | artifact | target | binary | zip |\n| --- | --- | --- | --- |\n",
    );
    let sam = b.root.join(".aws-sam/build/RecipeShareFunction/bootstrap");
    let artifacts = [
        (sam, "`sam build`"),
        (target_dir.join("lambda/bootstrap/bootstrap"), "`cargo lambda build`"),
        (b.bootstrap.clone(), "`cargo build --release --bin bootstrap`"),
    ];
    for (path, what) in artifacts.iter().filter(|(p, _)| p.is_file()) {
        let raw = std::fs::metadata(path).map_or(0, |m| m.len());
        // The ELF header's e_machine says which architecture a packaged artifact is for.
        let head = std::fs::read(path).unwrap_or_default();
        let target = match head.get(18..20) {
            _ if *path == b.bootstrap => host,
            Some([0x3E, 0]) => "x86_64 (ELF)",
            Some([0xB7, 0]) => "arm64 (ELF)",
            _ => "unknown",
        };
        let zipped = match zip_bytes(path, &b.tmp) {
            Ok(z) => format!("{z} bytes ({:.2} MB)", z as f64 / 1e6),
            Err(e) => format!("not measured: {e}"),
        };
        let mb = raw as f64 / 1e6;
        let _ = writeln!(md, "| {what} | {target} | {raw} bytes ({mb:.2} MB) | {zipped} |");
    }
    md + "\n"
}

// --- 6. CPU-limited cold Create over TLS -------------------------------------------------------------------

/// A cgroup with a CFS bandwidth limit of CPU_QUOTA_US per CPU_PERIOD_US that a child joins before exec;
/// removed on drop.
struct CpuLimit {
    dir: PathBuf,
    procs: File,
    how: String,
}

impl CpuLimit {
    /// cgroup v2 `cpu.max` where the root delegates the cpu controller, else the v1 cpu controller's
    /// `cpu.cfs_quota_us`/`cpu.cfs_period_us` (the same CFS bandwidth control under its v1 names).
    fn create() -> Result<CpuLimit, String> {
        let name = format!("recipe-share-bench-{}", std::process::id());
        let v2 = std::fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control").unwrap_or_default();
        let (dir, files, how) = if v2.split_whitespace().any(|c| c == "cpu") {
            let max = format!("{CPU_QUOTA_US} {CPU_PERIOD_US}");
            let how = format!("cgroup v2 `cpu.max` = \"{max}\"");
            (Path::new("/sys/fs/cgroup").join(&name), vec![("cpu.max", max)], how)
        } else if Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists() {
            let how = format!("cgroup v1 `cpu.cfs_quota_us` {CPU_QUOTA_US} per `cpu.cfs_period_us` {CPU_PERIOD_US}");
            let (period, quota) = (CPU_PERIOD_US.to_string(), CPU_QUOTA_US.to_string());
            let files = vec![("cpu.cfs_period_us", period), ("cpu.cfs_quota_us", quota)];
            (Path::new("/sys/fs/cgroup/cpu").join(&name), files, how)
        } else {
            return Err("no cgroup v2 cpu controller delegated at /sys/fs/cgroup and no v1 cpu controller".into());
        };
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let write = |(f, v): &(&str, String)| std::fs::write(dir.join(f), v).map_err(|e| format!("{f}: {e}"));
        let open = || std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs"));
        let procs = files.iter().try_for_each(write);
        match procs.and_then(|()| open().map_err(|e| format!("cgroup.procs: {e}"))) {
            Ok(procs) => Ok(CpuLimit { dir, procs, how }),
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                Err(e)
            }
        }
    }

    /// From `cpu.stat`: periods in which the group was throttled, of all periods (evidence the limit bit).
    fn throttled_periods(&self) -> String {
        let stat = std::fs::read_to_string(self.dir.join("cpu.stat")).unwrap_or_default();
        let (throttled, periods) = (field(&stat, "nr_throttled "), field(&stat, "nr_periods "));
        format!("{throttled} of {periods}")
    }
}

impl Drop for CpuLimit {
    fn drop(&mut self) {
        // The children are reaped by now, but the kernel may take a moment to empty the group.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One fresh process whose first event, queued before the spawn, is a Create of a new recipe. Returns spawn →
/// response PUT with the CPU time read as the PUT arrived (None if none did), the AWS calls and the status sent.
fn cold_create(b: &Bench, aws: &StandIn, put: &StandIn, cg: Option<&CpuLimit>) -> ColdCreate {
    let api = RuntimeApi::start();
    let event = b.event("cfn-create.json", put, &b.new_recipe(aws));
    let id = api.invoke(&event, WAIT, FUNCTION_ARN);
    let (puts0, calls0) = (put.responses().len(), aws_calls(aws));
    let t0 = Instant::now();
    let f = Function::spawn(b, &api, aws, put, true, cg);
    let responses = put.wait_responses(puts0 + 1, WAIT);
    let (wall, cpu) = (ms(t0.elapsed()), f.cpu_ms());
    let _ = api.wait_result(&id, WAIT);
    let status = responses.get(puts0).map(|r| r.json.clone().unwrap_or_default());
    let put = status.is_some().then_some((wall, cpu));
    let status = status.map_or("no PUT".into(), |j| j["Status"].to_string());
    (put, aws_calls(aws) - calls0, status.replace('"', ""))
}

type ColdCreate = (Option<(f64, (f64, f64))>, usize, String);

fn tls(b: &Bench, runs: usize) -> String {
    let (secure, plain) = (StandIn::start_tls(opts()), StandIn::start(opts()));
    secure.write_ca_pem(&b.ca()).expect("CA PEM");
    // Which client trusts the CA named by SSL_CERT_FILE: one run with both on TLS. A client that does not is
    // pointed at the plain-HTTP stand-in for the measured runs, so what works is still measured.
    let (put_probe, sdk_calls, status) = cold_create(b, &secure, &secure, None);
    let (sdk_ok, put_ok) = (sdk_calls > 0 && status == "SUCCESS", put_probe.is_some());
    let aws = if sdk_ok { &secure } else { &plain };
    let put = if put_ok { &secure } else { &plain };
    let over = |ok: bool| ["plain HTTP (fallback: TLS failed)", "HTTPS"][usize::from(ok)];
    let (sdk_over, put_over, sdk_yes, put_yes) = (over(sdk_ok), over(put_ok), yes(sdk_ok), yes(put_ok));
    let tick = 1e3 / USER_HZ;
    let mut md = format!(
        "## 6. Cold Create over TLS, CPU-limited\n\nStand-in over HTTPS with its own CA, trusted through \
         `SSL_CERT_FILE`; a fresh `bootstrap` per run, its first event (queued before the spawn) a Create of a new \
         recipe (promotion instant, no added latency); wall = spawn → response PUT; CPU read when the PUT arrives: \
         utime+stime of /proc/<pid>/stat (whole ticks of {tick} ms, rounded down) and the live threads' schedstat \
         run time (ns).\n\n| client | trusts the `SSL_CERT_FILE` CA | measured over |\n| --- | --- | --- |\n\
         | AWS SDK (Image Builder, RAM) | {sdk_yes} ({sdk_calls} calls, response {status}) | {sdk_over} |\n\
         | response PUT (the SDK's connector, shared) | {put_yes} | {put_over} |\n\n\
         | run | CPU limit | n | wall median | wall max | CPU median (utime+stime) | CPU max (utime+stime) | CPU \
         median (schedstat) | target | met |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    );
    let limit = CpuLimit::create();
    for cg in [None, Some(&limit)] {
        let cg = match cg {
            None => None,
            Some(Ok(cg)) => Some(cg),
            Some(Err(why)) => {
                let _ = writeln!(md, "\n7% of a core: not measured: {why}.");
                break;
            }
        };
        eprintln!("[bench] tls: {runs} cold Creates, CPU-limited: {}", cg.is_some());
        let samples: Vec<(f64, (f64, f64))> = (0..runs)
            .map(|_| cold_create(b, aws, put, cg).0.expect("a response PUT"))
            .collect();
        let wall = stats(samples.iter().map(|s| s.0).collect());
        let cpu = stats(samples.iter().map(|s| s.1.0).collect());
        let sched = stats(samples.iter().map(|s| s.1.1).collect()).med;
        let run = if cg.is_some() { "7% of a core" } else { "unlimited" };
        let how = |c: &CpuLimit| format!("{} (throttled {} periods)", c.how, c.throttled_periods());
        let how = cg.map_or("none".into(), how);
        let (n, wall_median, wall_max, cpu_median, cpu_max) = (wall.n, wall.med, wall.max, cpu.med, cpu.max);
        // Judged on the larger of the two readings: utime+stime is truncated to whole ticks.
        let met = yes(cpu_median.max(sched) <= CPU_TARGET_MS);
        let _ = writeln!(
            md,
            "| {run} | {how} | {n} | {wall_median:.0} ms | {wall_max:.0} ms | {cpu_median:.0} ms | {cpu_max:.0} ms \
             | {sched:.1} ms | ≤ {CPU_TARGET_MS} ms | {met} |"
        );
    }
    md + "\n"
}

// --- 7. sweep at scale -------------------------------------------------------------------------------------

fn sweep(recipes: usize) -> String {
    let mut opts = opts();
    opts.rate_limit = Some(RateLimit {
        per_second: f64::from(RATE),
        burst: RATE,
    });
    let standin = Arc::new(StandIn::start(opts));
    standin.set_recording(false);
    standin.add_recipes((0..recipes).map(|i| format!("{RECIPE_PREFIX}fleet-{i:05}/1.0.0")));
    // current_thread, as the bootstrap's own runtime is.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let rt = rt.expect("tokio runtime");
    let deadline = SWEEP_DEADLINE.as_secs();
    let mut md = format!(
        "## 7. Sweep at scale\n\nIn-process handler over {recipes} recipes, stand-in rate limit {RATE} calls/s per \
         operation (each bucket starts full: burst {RATE}), promotion instant, deadline {deadline} s per invocation, \
         hand-offs followed; admitted = calls − throttled.\n\n| sweep | duration | invocations | AWS calls | \
         throttled | refused share | target | busiest operation | its admitted calls/s | of {RATE}/s | target | \
         counts | failed |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    );
    let h = rt.block_on(InProcess::new(standin.clone(), ACCOUNTS));
    for mode in ["apply", "report"] {
        eprintln!("[bench] sweep: {mode} over {recipes} recipes");
        let count = |op: &str| (standin.call_count(op), standin.throttled(op));
        let before: Vec<(usize, usize)> = aws_ops().into_iter().map(count).collect();
        let t0 = Instant::now();
        let (out, invocations) = rt.block_on(sweep_chain(&h, mode));
        let secs = t0.elapsed().as_secs_f64();
        let (mut busiest, mut busiest_rate, mut total, mut throttled) = ("", 0.0, 0, 0);
        for (op, (calls0, throttled0)) in aws_ops().into_iter().zip(before) {
            let (c, t) = (standin.call_count(op) - calls0, standin.throttled(op) - throttled0);
            let admitted = (c - t) as f64 / secs;
            (total, throttled) = (total + c, throttled + t);
            if admitted > busiest_rate {
                (busiest, busiest_rate) = (op, admitted);
            }
        }
        let refused = throttled as f64 / total.max(1) as f64 * 100.0;
        let of_limit = busiest_rate / f64::from(RATE) * 100.0;
        let failed = out["counts"]["failed"].as_u64().unwrap_or(0);
        let counts = out["counts"].to_string().replace('"', "");
        let (polite, busy) = (yes(refused < 1.0), yes(of_limit >= 90.0));
        let none_failed = yes(failed == 0 && out["status"] == "complete");
        let _ = writeln!(
            md,
            "| {mode} | {secs:.1} s | {invocations} | {total} | {throttled} | {refused:.2}% | < 1% ({polite}) | \
             {busiest} | {busiest_rate:.1} | {of_limit:.1}% | ≥ 90% ({busy}) | {counts} | {failed} ({none_failed}) |"
        );
    }
    md + "\n"
}

/// Runs a sweep to its end, delivering each hand-off as Lambda would; returns the last summary and the number of
/// invocations. Recording stays off (10,000s of calls) except in the last 66 s of an invocation, where the
/// hand-off's `Invoke` (sent once no recipe is launched any more, 65 s before the deadline) lands.
async fn sweep_chain(h: &InProcess, mode: &str) -> (Value, usize) {
    let mut event = json!({"sweep": {"mode": mode}});
    for invocation in 1..=20 {
        h.standin.set_recording(false);
        let standin = h.standin.clone();
        let tail = tokio::spawn(async move {
            tokio::time::sleep(SWEEP_DEADLINE - Duration::from_secs(66)).await;
            standin.set_recording(true);
        });
        let id = format!("bench-sweep-{mode}-{invocation}");
        let out = h.invoke(event, &id, SWEEP_DEADLINE).await;
        tail.abort();
        if out["status"] != "continued" {
            return (out, invocation);
        }
        let handed = h.standin.calls().into_iter().rev().find(|c| c.op == "Invoke");
        event = handed.expect("a continued sweep hands on with Invoke").body;
    }
    panic!("the {mode} sweep did not finish in 20 invocations");
}

// --- the report --------------------------------------------------------------------------------------------

fn command_out(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().map(|o| o.stdout);
    String::from_utf8_lossy(&out.unwrap_or_default()).trim().to_string()
}

fn header(root: &Path, parts: &str) -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let (y, mo, d, h, mi, s) = recipe_share_standin::civil_utc(secs.as_secs());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find_map(|l| l.strip_prefix("model name"));
    let model = model.and_then(|m| m.split_once(':')).map_or("unknown", |m| m.1.trim());
    let (nproc, rustc) = (command_out("nproc", &[]), command_out("rustc", &["-V"]));
    let dir = root.to_str().unwrap_or(".");
    let git = |args: &[&str]| command_out("git", &[&["-C", dir][..], args].concat());
    let commit = git(&["rev-parse", "--short", "HEAD"]);
    let branch = git(&["rev-parse", "--abbrev-ref", "HEAD"]);
    format!(
        "# recipe-share benchmarks\n\n| | |\n| --- | --- |\n| date | {y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC |\n\
         | commit | `{commit}` on `{branch}` (the code measured) |\n| machine | nproc {nproc}, {model} |\n\
         | toolchain | {rustc} |\n| load average (1, 5, 15 min) | {} at the start, LOAD_AT_END at the end |\n\
         | reproduce | `scripts/bench.sh` (parts: `{parts}`) |\n\n",
        loadavg()
    )
}

/// Other work on the machine (it is shared) shows in the figures; this says how much there was.
fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // target/release/examples/bench → target/release/bootstrap, built by the same `cargo build`.
    let exe = std::env::current_exe().expect("current exe");
    let release = exe.parent().and_then(Path::parent).expect("target/release");
    let bootstrap = std::env::var_os("BENCH_BOOTSTRAP").map_or(release.join("bootstrap"), PathBuf::from);
    assert!(bootstrap.is_file(), "run scripts/bench.sh: no {bootstrap:?}");
    let tmp = std::env::temp_dir().join(format!("recipe-share-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "cold,warm,calls,rss,zip,tls,sweep".into());
    let runs = |p: &str| parts.split(',').any(|x| x.trim() == p);
    let serial = std::cell::Cell::new(0);
    let b = Bench {
        root: root.clone(),
        bootstrap,
        tmp: tmp.clone(),
        serial,
    };
    let t0 = Instant::now();

    let mut md = header(&root, &parts);
    if runs("cold") {
        eprintln!("[bench] cold starts");
        md += &cold(&b, knob("BENCH_COLD_SPAWNS", 30).max(1));
    }
    let warm = runs("warm").then(|| knob("BENCH_WARM_CREATES", 100).max(2));
    let rss = runs("rss").then(|| knob("BENCH_RSS_EVENTS", 1000).max(51));
    let (warm_md, rss_md) = if warm.is_some() || rss.is_some() {
        eprintln!("[bench] warm Creates and peak RSS");
        warm_rss(&b, warm, rss)
    } else {
        Default::default()
    };
    md += &warm_md;
    if runs("calls") {
        eprintln!("[bench] AWS calls per recipe");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
        md += &rt.expect("tokio runtime").block_on(calls(&b));
    }
    md += &rss_md;
    if runs("zip") {
        md += &zip(&b, release.parent().expect("target dir"));
    }
    if runs("tls") {
        md += &tls(&b, knob("BENCH_TLS_RUNS", 10).max(1));
    }
    if runs("sweep") {
        md += &sweep(knob("BENCH_SWEEP_RECIPES", 10_000).max(1));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let out = std::env::var_os("BENCH_OUT").map_or(root.join("benches/RESULTS.md"), PathBuf::from);
    let md = md.replacen("LOAD_AT_END", &loadavg(), 1);
    std::fs::write(&out, &md).expect("write RESULTS.md");
    println!("{md}");
    let (out, secs) = (out.display(), t0.elapsed().as_secs_f64());
    eprintln!("[bench] wrote {out} in {secs:.0} s");
}
