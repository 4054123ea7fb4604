//! The service over real sockets: a Redis server, the built binary, and gRPC clients made from
//! Envoy's own protos (`envoy-types`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::{
    Entry, RateLimitOverride,
};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use envoy_types::pb::google::protobuf::UInt64Value;
use prost::Message;
use tonic::transport::Channel;

const DAY: i32 = 4;
const MONTH: i32 = 5;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn redis(port: u16) -> Process {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (Debian's redis-server; scripts/bootstrap installs it)");
    wait_for_port(port);
    Process(child)
}

fn service(redis_port: u16) -> (Process, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_vault-mcp-ratelimit"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--redis-url", &format!("redis://127.0.0.1:{redis_port}")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    (Process(child), port)
}

async fn client(port: u16) -> RateLimitServiceClient<Channel> {
    RateLimitServiceClient::connect(format!("http://127.0.0.1:{port}"))
        .await
        .unwrap()
}

/// A Redis and one service on it, and a client of the service (the processes end when the
/// first part of the pair is dropped).
async fn counting() -> ((Process, Process), RateLimitServiceClient<Channel>) {
    let redis_port = free_port();
    let redis = redis(redis_port);
    let (service, port) = service(redis_port);
    ((redis, service), client(port).await)
}

/// A name no other test (or earlier run on the same Redis) uses.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos}")
}

/// Counts are per day here: a test that started in the last seconds of a day waits for the next,
/// so its window cannot end half-way.
async fn clear_of_the_day_boundary() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let left = 86_400 - now.as_secs() % 86_400;
    if left < 30 {
        tokio::time::sleep(Duration::from_secs(left + 1)).await;
    }
}

fn descriptor(entries: &[(&str, &str)], limit: u32, hits: Option<u64>) -> RateLimitDescriptor {
    RateLimitDescriptor {
        entries: entries
            .iter()
            .map(|(key, value)| Entry {
                key: key.to_string(),
                value: value.to_string(),
            })
            .collect(),
        limit: Some(RateLimitOverride {
            requests_per_unit: limit,
            unit: DAY,
        }),
        hits_addend: hits.map(|value| UInt64Value { value }),
        is_negative_hits: false,
    }
}

fn request(descriptors: Vec<RateLimitDescriptor>) -> RateLimitRequest {
    RateLimitRequest {
        domain: "vault_mcp".into(),
        descriptors,
        hits_addend: 0,
    }
}

async fn ask(
    client: &mut RateLimitServiceClient<Channel>,
    request: RateLimitRequest,
) -> RateLimitResponse {
    client
        .should_rate_limit(request)
        .await
        .unwrap()
        .into_inner()
}

fn ok(response: &RateLimitResponse) -> bool {
    response.overall_code == i32::from(Code::Ok)
}

#[tokio::test]
async fn one_at_a_time_exactly_the_limit_passes() {
    clear_of_the_day_boundary().await;
    let (_processes, mut client) = counting().await;
    let agent = unique("agent");
    let mut passed = 0;
    let mut last = None;
    for _ in 0..30 {
        let response = ask(
            &mut client,
            request(vec![descriptor(&[("agent", &agent)], 20, None)]),
        )
        .await;
        passed += usize::from(ok(&response));
        last = Some(response);
    }
    assert_eq!(passed, 20);
    let status = &last.unwrap().statuses[0];
    assert_eq!(status.code, i32::from(Code::OverLimit));
    assert_eq!(status.limit_remaining, 0);
    let reset = status.duration_until_reset.unwrap().seconds;
    assert!((0..=86_400).contains(&reset), "{reset}");
    assert_eq!(status.current_limit.as_ref().unwrap().requests_per_unit, 20);
}

#[tokio::test]
async fn concurrent_clients_of_two_services_never_pass_more_than_the_limit() {
    clear_of_the_day_boundary().await;
    let redis_port = free_port();
    let _redis = redis(redis_port);
    let (_first, first) = service(redis_port);
    let (_second, second) = service(redis_port);
    let agent = unique("agent");
    let mut tasks = Vec::new();
    for connection in 0..32 {
        let agent = agent.clone();
        let port = if connection % 2 == 0 { first } else { second };
        tasks.push(tokio::spawn(async move {
            let mut client = client(port).await;
            let mut passed = 0;
            for _ in 0..4 {
                let response = ask(
                    &mut client,
                    request(vec![descriptor(&[("agent", &agent)], 50, None)]),
                )
                .await;
                passed += usize::from(ok(&response));
            }
            passed
        }));
    }
    let mut passed = 0;
    for task in tasks {
        passed += task.await.unwrap();
    }
    // 128 asked at 32 connections: exactly 50, not one more (a read-then-increment counter
    // over-admits here) and not fewer (nothing is lost).
    assert_eq!(passed, 50);
}

#[tokio::test]
async fn a_refused_request_costs_none_of_its_other_limits() {
    clear_of_the_day_boundary().await;
    let (_processes, mut client) = counting().await;
    let agent = unique("agent");
    let both = || {
        request(vec![
            descriptor(&[("agent", &agent)], 100, None),
            descriptor(&[("agent", &agent), ("tool", "ssh.sign")], 1, None),
        ])
    };
    assert!(ok(&ask(&mut client, both()).await));
    let refused = ask(&mut client, both()).await;
    assert!(!ok(&refused));
    assert_eq!(refused.statuses[0].code, i32::from(Code::Ok));
    assert_eq!(refused.statuses[1].code, i32::from(Code::OverLimit));
    // A look (hits 0) at the agent's count: the refused request took nothing from it.
    let look = ask(
        &mut client,
        request(vec![descriptor(&[("agent", &agent)], 100, Some(0))]),
    )
    .await;
    assert!(ok(&look));
    assert_eq!(look.statuses[0].limit_remaining, 99);
}

#[tokio::test]
async fn the_filters_question_is_envoys_message() {
    clear_of_the_day_boundary().await;
    use vault_mcp_filter::global::{GlobalPolicy, OnFailure, Question, ToolLimits};
    use vault_mcp_filter::ratelimit::Limit;
    let policy = GlobalPolicy {
        cluster: "ratelimit".into(),
        domain: "vault_mcp".into(),
        timeout_ms: 100,
        on_failure: OnFailure::Local,
        closed_tools: vec![],
    };
    let agent = unique("agent");
    let limit = |requests, per_seconds| Limit {
        requests,
        per_seconds,
    };
    let question = Question::new(
        &policy,
        &agent,
        limit(20, 60),
        [
            ToolLimits {
                tool: "kv.write",
                rate: Some(limit(2, 86_400)),
                budget: None,
            },
            ToolLimits {
                tool: "kv.read",
                rate: None,
                budget: None,
            },
        ],
    );
    let bytes = question.encode(&policy);
    let decoded = RateLimitRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded.domain, "vault_mcp");
    assert_eq!(decoded.hits_addend, 1);
    assert_eq!(decoded.descriptors.len(), 2);
    let tool = &decoded.descriptors[1];
    assert_eq!(
        tool.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
            .collect::<Vec<_>>(),
        [("agent", agent.as_str()), ("tool", "kv.write")]
    );
    let limit = tool.limit.as_ref().unwrap();
    assert_eq!((limit.requests_per_unit, limit.unit), (2, DAY));

    // And the service's answer is one the filter reads.
    let (_processes, mut client) = counting().await;
    let read =
        |response: RateLimitResponse| question.read_answer(0, Some(&response.encode_to_vec()));
    use vault_mcp_filter::global::{Answer, Kind};
    assert_eq!(read(ask(&mut client, decoded.clone()).await), Answer::Admit);
    assert_eq!(read(ask(&mut client, decoded.clone()).await), Answer::Admit);
    let Answer::Over {
        retry_after,
        kind: Kind::Rate,
    } = read(ask(&mut client, decoded).await)
    else {
        panic!("the third kv.write of a 2-a-day limit passed")
    };
    assert!((1..=86_400).contains(&retry_after));
}

#[tokio::test]
async fn without_redis_it_says_unavailable_then_recovers() {
    let redis_port = free_port();
    let redis_server = redis(redis_port);
    let (_service, port) = service(redis_port);
    let mut client = client(port).await;
    let agent = unique("agent");
    let one = || request(vec![descriptor(&[("agent", &agent)], 1000, None)]);
    assert!(ok(&ask(&mut client, one()).await));
    drop(redis_server);
    // An answer, not a stall (redis-rs's defaults would hold the call for about a minute).
    let error = client.should_rate_limit(one()).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::Unavailable, "{error:?}");
    let _redis = redis(redis_port);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.should_rate_limit(one()).await {
            Ok(response) => {
                assert!(ok(response.get_ref()));
                break;
            }
            Err(error) => {
                assert_eq!(error.code(), tonic::Code::Unavailable);
                assert!(Instant::now() < deadline, "no recovery: {error:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test]
async fn bad_questions_are_refused_with_their_reason() {
    let (_processes, mut client) = counting().await;
    let mut month = descriptor(&[("agent", "a")], 1, None);
    month.limit.as_mut().unwrap().unit = MONTH;
    let mut negative = descriptor(&[("agent", "a")], 1, None);
    negative.is_negative_hits = true;
    let long = "x".repeat(300);
    let many: Vec<(&str, &str)> = vec![("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")];
    let cases = [
        (request(vec![]), "descriptors"),
        (request(vec![descriptor(&[], 1, None)]), "no entries"),
        (request(vec![month]), "unit"),
        (request(vec![negative]), "negative"),
        (
            request(vec![descriptor(&[("agent", &long)], 1, None)]),
            "at most",
        ),
        (request(vec![descriptor(&many, 1, None)]), "at most"),
        (
            RateLimitRequest {
                domain: "someone_else".into(),
                ..request(vec![descriptor(&[("agent", "a")], 1, None)])
            },
            "domain",
        ),
        (
            RateLimitRequest {
                domain: String::new(),
                ..request(vec![descriptor(&[("agent", "a")], 1, None)])
            },
            "domain",
        ),
    ];
    for (request, says) in cases {
        let error = client.should_rate_limit(request).await.unwrap_err();
        assert_eq!(error.code(), tonic::Code::InvalidArgument);
        assert!(error.message().contains(says), "{}", error.message());
    }
}

#[tokio::test]
async fn a_descriptor_named_twice_counts_twice() {
    clear_of_the_day_boundary().await;
    let (_processes, mut client) = counting().await;
    let agent = unique("agent");
    let one = || descriptor(&[("agent", &agent)], 10, None);
    for _ in 0..9 {
        assert!(ok(&ask(&mut client, request(vec![one()])).await));
    }
    // The count is at 9 of 10: five copies in one question are five hits, not one each.
    let copies = ask(
        &mut client,
        request(vec![one(), one(), one(), one(), one()]),
    )
    .await;
    assert!(!ok(&copies));
    assert!(ok(&ask(&mut client, request(vec![one()])).await));
    assert!(!ok(&ask(&mut client, request(vec![one()])).await));
}
