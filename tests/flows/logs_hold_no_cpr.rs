//! The `eidbroker` process, run as an operator runs the demo (its own process, JSON logs at the most
//! verbose level), never writes a CPR number to its output: not at start, not during a whole login
//! through the demo service (which receives and shows the CPR number), not at logout.

use eid_testkit::Browser;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_eidbroker");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The CPR numbers of the demo persons, in both spellings (`ddmmyyxxxx`, `ddmmyy-xxxx`).
fn demo_cprs() -> Vec<String> {
    let text =
        std::fs::read_to_string(eid_testkit::stack::demo_data_dir().join("persons.toml")).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.trim().strip_prefix("cpr = \"") {
            let cpr = rest.trim_end_matches('"').to_owned();
            assert_eq!(cpr.len(), 10, "{line}");
            out.push(format!("{}-{}", &cpr[..6], &cpr[6..]));
            out.push(cpr);
        }
    }
    assert!(out.len() >= 8, "the demo has persons with CPR numbers");
    out
}

/// Our own crates at the most verbose level, every request and response, the libraries at info.
const VERBOSE: &str = "info,tower_http=debug,eidbroker=trace,eid_broker=trace,eid_idp=trace,eid_store=trace,\
                       eid_web=trace,eid_oidc=trace,eid_core=trace,eid_keys=trace";

/// A demo configuration on free loopback ports (the repository's own files name fixed ports).
fn write_config(dir: &std::path::Path, ports: &[u16; 5]) -> std::path::PathBuf {
    let [broker, idp, delegation, eidas, demo] = *ports;
    let rp_file = dir.join("relying-parties.toml");
    std::fs::write(
        &rp_file,
        format!(
            "[[relying_party]]\nclient_id = \"demo-rp\"\nclient_name = \"Demo\"\n\
             client_secret = \"demo-rp-secret-for-localhost-only\"\n\
             redirect_uris = [\"http://localhost:{demo}/callback\"]\n\
             post_logout_redirect_uris = [\"http://localhost:{demo}/\"]\n\
             backchannel_logout_uri = \"http://localhost:{demo}/backchannel-logout\"\n\
             token_endpoint_auth_method = \"client_secret_basic\"\nsector = \"demo\"\n\
             allowed_claims = [\"cpr\", \"name\", \"birthdate\"]\n"
        ),
    )
    .unwrap();
    let text = format!(
        "data_dir = {data:?}\n[log]\nformat = \"json\"\nfilter = {filter:?}\n\
         [demo]\nenabled = true\ndata = {demo_data:?}\n\
         [broker]\nlisten = \"127.0.0.1:{broker}\"\npublic_url = \"http://localhost:{broker}\"\n\
         admin_token = \"test-admin-token-0123456789\"\nrelying_parties = [{rp_file:?}]\n\
         [[broker.upstreams]]\nname = \"mitid\"\nissuer = \"http://localhost:{idp}\"\n\
         client_id = \"broker\"\nclient_secret = \"test-client-secret-0123456789\"\nkind = \"national\"\n\
         [idp]\nlisten = \"127.0.0.1:{idp}\"\npublic_url = \"http://localhost:{idp}\"\n\
         [[idp.clients]]\nclient_id = \"broker\"\nclient_name = \"NemLog-in (test)\"\n\
         client_secret = \"test-client-secret-0123456789\"\n\
         redirect_uris = [\"http://localhost:{broker}/upstream/mitid/callback\"]\n\
         post_logout_redirect_uris = [\"http://localhost:{broker}/logout/done\"]\n\
         may_name_services = true\n\
         [delegation]\nlisten = \"127.0.0.1:{delegation}\"\npublic_url = \"http://localhost:{delegation}\"\n\
         [eidas_gateway]\nlisten = \"127.0.0.1:{eidas}\"\npublic_url = \"http://localhost:{eidas}\"\n\
         [demo_rp]\nlisten = \"127.0.0.1:{demo}\"\npublic_url = \"http://localhost:{demo}\"\n\
         client_id = \"demo-rp\"\nclient_secret = \"demo-rp-secret-for-localhost-only\"\n",
        data = dir.join("data").display().to_string(),
        demo_data = eid_testkit::stack::demo_data_dir().display().to_string(),
        rp_file = rp_file.display().to_string(),
        filter = VERBOSE,
    );
    let path = dir.join("eidbroker.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Kills the child when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_demo_login_and_logout_leaves_no_cpr_number_in_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let ports = [
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    ];
    let config = write_config(dir.path(), &ports);
    let child = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env_remove("EIDBROKER_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    // Read both pipes while the process runs, so that it never blocks on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(running.0.stdout.take().unwrap()));
    let stderr = drain(Box::new(running.0.stderr.take().unwrap()));
    let demo = format!("http://localhost:{}", ports[4]);
    let idp = format!("http://localhost:{}", ports[1]);
    let browser = Browser::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let home = loop {
        if let Ok(r) = browser.http.get(format!("{demo}/")).send().await {
            break r.text().await.unwrap();
        }
        assert!(Instant::now() < deadline, "the demo did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let csrf = eid_testkit::client::input_value(&home, "csrf").unwrap();
    let nowhere = "http://nowhere.invalid/";
    // The broker goes straight on to its only upstream, the authenticator's user-ID page.
    let user_page = browser
        .post(&format!("{demo}/login"), &[("csrf", &csrf)], nowhere)
        .await;
    assert_eq!(user_page.status, 200, "{}", user_page.body);
    let methods = browser
        .post(
            &format!("{idp}/login/user"),
            &[
                ("tx", &user_page.must_input("tx")),
                ("csrf", &user_page.must_input("csrf")),
                ("user_id", "anna"),
            ],
            nowhere,
        )
        .await;
    let back = browser
        .post(
            &format!("{idp}/login/password"),
            &[
                ("tx", &methods.must_input("tx")),
                ("csrf", &methods.must_input("csrf")),
                ("password", "anna-demo-pass"),
            ],
            nowhere,
        )
        .await;
    // The demo service shows what it received, the CPR number included: the login went through.
    assert!(
        back.url.starts_with(&demo) && back.body.contains("010770"),
        "{} {}",
        back.url,
        back.body
    );
    let csrf = eid_testkit::client::input_value(&back.body, "csrf").unwrap();
    let _ = browser
        .post(&format!("{demo}/logout"), &[("csrf", &csrf)], nowhere)
        .await;
    drop(browser);
    let _ = running.0.kill();
    let _ = running.0.wait();
    let logs = stdout.join().unwrap() + &stderr.join().unwrap();
    assert!(
        logs.lines().filter(|l| l.starts_with('{')).count() > 30,
        "the process logged its work: {logs}"
    );
    for cpr in demo_cprs() {
        let hits: Vec<&str> = logs.lines().filter(|l| l.contains(&cpr)).collect();
        assert!(hits.is_empty(), "CPR {cpr} in the output: {hits:?}");
    }
}
