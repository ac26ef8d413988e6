//! Container log rotation against a real containerd: the kubelet (`run_with`) with a tiny
//! containerLogMaxSize and the shortest containerLogMonitorInterval upstream allows (3 s)
//! runs a busybox container that writes numbered lines; rotated files appear, older ones
//! are gzipped, the number of files stays within containerLogMaxFiles, and the reads the
//! kubelet server does for `kubectl logs` (tail, and follow across rotations) return the
//! latest lines without gaps.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, PostParams};
use kube::Api;
use rudder_kubelet::runtime::cri::CriRuntime;
use rudder_kubelet::server::logs::{log_files, stream_log, LogOptions};
use serde_json::json;

use crate::common::{kubelet_config, wait_for, Apiserver, Containerd, BUSYBOX};

const NODE: &str = "kl-logs-node";
const MAX_FILES: usize = 3;

/// The numbers of the `line N` messages in CRI log text or plain log output.
fn line_numbers(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| {
            l.rsplit_once("line ")
                .and_then(|(_, n)| n.trim().parse().ok())
        })
        .collect()
}

/// The container's log files (`0.log*`, without compressions in progress).
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("0.log") && !n.ends_with(".tmp"))
        .collect();
    v.sort();
    v
}

async fn read(file: PathBuf, opts: LogOptions) -> String {
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let task = tokio::spawn(stream_log(
        file,
        opts,
        Box::new(|| Box::pin(async { false })),
        tx,
    ));
    let mut out = String::new();
    while let Some(b) = rx.recv().await {
        out.push_str(&String::from_utf8_lossy(&b));
    }
    task.await.unwrap().unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_rotate_compress_stay_bounded_and_stay_readable() {
    let Some(ctd) = Containerd::start() else {
        return;
    };
    let apiserver = Apiserver::start().await;
    let work = tempfile::tempdir().unwrap();
    let config = kubelet_config(
        work.path(),
        &ctd.endpoint(),
        &apiserver.kubeconfig,
        NODE,
        &format!(
            "containerLogMaxSize: 2Ki\ncontainerLogMaxFiles: {MAX_FILES}\n\
             containerLogMonitorInterval: 3s\n"
        ),
        &[],
    );
    let runtime = Arc::new(
        CriRuntime::connect(&ctd.endpoint(), Duration::from_secs(30))
            .await
            .expect("containerd answers CRI"),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let kubelet = tokio::spawn(rudder_kubelet::run_with(
        config,
        apiserver.client.clone(),
        runtime,
        async {
            let _ = stop_rx.await;
        },
    ));
    let pods: Api<Pod> = Api::namespaced(apiserver.client.clone(), "default");
    // About 2.5 KiB of log a second: every 3 s check finds more than 2 KiB.
    let script = "i=0; trap 'exit 0' TERM; while true; do i=$((i+1)); echo \"line $i\"; \
                  if [ $((i % 40)) = 0 ]; then sleep 1; fi; done";
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": "chatty", "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "c", "image": BUSYBOX,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", script]}]
        }
    }))
    .unwrap();
    let uid = pods
        .create(&PostParams::default(), &p)
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let dir = work
        .path()
        .join("pods")
        .join(format!("default_chatty_{uid}"))
        .join("c");
    let current = wait_for("the container's log file", 60, || async {
        let f = log_files(&dir).into_iter().next()?;
        std::fs::metadata(&f).ok()?;
        Some(f)
    })
    .await;
    assert_eq!(current, dir.join("0.log"));

    // `kubectl logs -f` from the start, kept open across the rotations.
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let follow = tokio::spawn(stream_log(
        current.clone(),
        LogOptions {
            follow: true,
            ..Default::default()
        },
        Box::new(|| Box::pin(async { true })),
        tx,
    ));
    let followed = Arc::new(parking_lot::Mutex::new(String::new()));
    let sink = followed.clone();
    let collector = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            sink.lock().push_str(&String::from_utf8_lossy(&b));
        }
    });

    // Watch the directory: at least three rotations, a compressed file, and never more
    // than containerLogMaxFiles files.
    let mut rotated_seen = BTreeSet::new();
    let mut max_count = 0;
    wait_for("three rotations and a compressed log", 60, || {
        let names = files(&dir);
        max_count = max_count.max(names.len());
        assert!(
            names.len() <= MAX_FILES,
            "more than {MAX_FILES} log files: {names:?}"
        );
        for n in &names {
            if n != "0.log" {
                rotated_seen.insert(n.trim_end_matches(".gz").to_string());
            }
        }
        let done = rotated_seen.len() >= 3 && names.iter().any(|n| n.ends_with(".gz"));
        async move { done.then_some(()) }
    })
    .await;
    eprintln!("rotated files seen: {rotated_seen:?}; most files at once: {max_count}");
    for name in &rotated_seen {
        let suffix = name.trim_start_matches("0.log.");
        assert!(
            chrono::NaiveDateTime::parse_from_str(suffix, "%Y%m%d-%H%M%S").is_ok(),
            "{name} has upstream's timestamp layout"
        );
    }

    // The compressed file holds CRI records; the newest rotated one is plain.
    let names = files(&dir);
    let gz = names.iter().find(|n| n.ends_with(".gz")).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(dir.join(gz)).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains(" stdout F line "), "{gz}: {text:.200}");
    let newest_rotated = names
        .iter()
        .filter(|n| *n != "0.log" && !n.ends_with(".gz"))
        .max()
        .expect("the newest rotated file stays uncompressed");
    let newest_rotated_last =
        *line_numbers(&std::fs::read_to_string(dir.join(newest_rotated)).unwrap())
            .last()
            .unwrap();

    // `kubectl logs --tail=5` reads the current file: the latest lines.
    let tail = wait_for("lines in the new log file", 15, || async {
        let t = read(
            current.clone(),
            LogOptions {
                tail_lines: Some(5),
                ..Default::default()
            },
        )
        .await;
        (line_numbers(&t).len() == 5).then_some(t)
    })
    .await;
    let tail_numbers = line_numbers(&tail);
    assert!(
        tail_numbers[0] > newest_rotated_last,
        "tail {tail_numbers:?} is newer than the rotated file's last line {newest_rotated_last}"
    );
    assert!(tail_numbers.windows(2).all(|w| w[1] == w[0] + 1), "{tail}");

    // The follow went through every rotation without losing or repeating a line.
    wait_for("follow reaches the current file", 15, || async {
        let n = line_numbers(&followed.lock()).last().copied()?;
        (n >= tail_numbers[4]).then_some(())
    })
    .await;
    let seen = line_numbers(&followed.lock());
    assert_eq!(seen[0], 1, "follow starts at the first line");
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "follow has gaps or repeats: {:?}",
        seen.windows(2).find(|w| w[1] != w[0] + 1)
    );
    follow.abort();
    collector.abort();

    pods.delete("chatty", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("chatty gone", 30, || async {
        matches!(pods.get_opt("chatty").await, Ok(None)).then_some(())
    })
    .await;
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(15), kubelet)
        .await
        .expect("kubelet stops")
        .unwrap()
        .unwrap();
    apiserver.stop().await;
    drop(ctd);
}
