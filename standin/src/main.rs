//! `standin`: runs the Image Builder / RAM / CloudFormation-response stand-in by hand, for
//! trying the Lambda or the AWS CLI against it locally.
//!
//! `cargo run -p recipe-share-standin -- [--port N] [--recipe ARN]... [--resource ARN]...
//! [--visible-after-ms N] [--promotion-ms N] [--page-size N] [--empty-pages]` prints the URLs
//! and serves until Ctrl-C (at most 24 hours). `--resource` adds an Image Builder resource of
//! the kind its ARN names (a container recipe, or a component or image build version).

use std::time::Duration;

use recipe_share_standin::{Options, StandIn};

const USAGE: &str = "usage: standin [--port N] [--recipe ARN]... [--resource ARN]... [--visible-after-ms N] [--promotion-ms N] [--page-size N] [--empty-pages]";
/// The server stops by itself after this long, so a forgotten terminal does not run forever.
const MAX_RUN: Duration = Duration::from_secs(24 * 60 * 60);

fn number<T: std::str::FromStr>(flag: &str, value: Option<String>) -> T {
    value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fail(&format!("{flag} needs a number")))
}

fn fail(message: &str) -> ! {
    eprintln!("standin: {message}\n{USAGE}");
    std::process::exit(2);
}

fn main() {
    let mut opts = Options::default();
    let mut recipes = Vec::new();
    let mut resources = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => opts.port = number("--port", args.next()),
            "--recipe" => recipes.push(args.next().unwrap_or_else(|| fail("--recipe needs an ARN"))),
            "--resource" => resources.push(args.next().unwrap_or_else(|| fail("--resource needs an ARN"))),
            "--visible-after-ms" => {
                opts.share_visible_after = Duration::from_millis(number("--visible-after-ms", args.next()));
            }
            "--promotion-ms" => {
                opts.promotion_time = Duration::from_millis(number("--promotion-ms", args.next()));
            }
            "--page-size" => opts.page_size = number("--page-size", args.next()),
            "--empty-pages" => opts.empty_pages = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument {other}")),
        }
    }
    let standin = StandIn::start(opts);
    for r in &recipes {
        standin.add_recipe(r);
    }
    for r in &resources {
        if let Err(e) = standin.try_add_resource(r) {
            fail(&format!("--resource: {e}"));
        }
    }
    println!("stand-in listening");
    println!("  AWS_ENDPOINT_URL={}", standin.url());
    println!("  response URL prefix: {}", standin.response_prefix());
    println!("  example response URL: {}", standin.response_url("example"));
    for r in &recipes {
        println!("  recipe: {r}");
    }
    for r in &resources {
        println!("  resource: {r}");
    }
    println!("Ctrl-C to stop");
    let started = std::time::Instant::now();
    let mut seen = 0;
    // Bounded by MAX_RUN; prints each request as it arrives so a manual run shows traffic.
    while started.elapsed() < MAX_RUN {
        std::thread::sleep(Duration::from_millis(200));
        let calls = standin.calls();
        for c in calls.iter().skip(seen) {
            println!("{} {} {} -> {}", c.method, c.path, c.body, c.op);
        }
        seen = calls.len();
    }
}
