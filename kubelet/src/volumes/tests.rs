//! Unit tests of the volume manager, payloads and container mounts (temp dirs, fake
//! mounter, fake object source).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use k8s_cri::v1::MountPropagation;
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapProjection, ConfigMapVolumeSource, Container, DownwardAPIProjection,
    DownwardAPIVolumeFile, DownwardAPIVolumeSource, EmptyDirVolumeSource, HostPathVolumeSource,
    KeyToPath, ObjectFieldSelector, Pod, PodSpec, ProjectedVolumeSource, ResourceFieldSelector,
    Secret, SecretProjection, SecretVolumeSource, ServiceAccountTokenProjection, Volume,
    VolumeMount, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;

use super::mounter::{FakeMounter, MountCall};
use super::mounts::{container_mounts, cri_log_tail, termination_message, write_hosts_file};
use super::*;
use crate::container::env::FakeObjects;
use crate::container::resources::NodeAllocatable;

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: Some("ns".into()),
        name: Some(name.into()),
        ..Default::default()
    }
}

fn cm(data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: meta("cfg"),
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        binary_data: Some([("bin".to_string(), ByteString(vec![0, 1, 2]))].into()),
        ..Default::default()
    }
}

fn secret() -> Secret {
    Secret {
        metadata: meta("sec"),
        data: Some([("token".to_string(), ByteString(b"s3cr3t".to_vec()))].into()),
        ..Default::default()
    }
}

fn vol(name: &str) -> Volume {
    Volume {
        name: name.into(),
        ..Default::default()
    }
}

fn info() -> PodRuntimeInfo {
    PodRuntimeInfo {
        node_name: "node".into(),
        allocatable: NodeAllocatable {
            cpu_millis: 2000,
            memory_bytes: 1 << 30,
            ephemeral_storage_bytes: 10 << 30,
        },
        ..Default::default()
    }
}

struct Env {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    mounter: Arc<FakeMounter>,
    objects: Arc<FakeObjects>,
    vm: VolumeManager,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("kubelet");
    let mounter = Arc::new(FakeMounter::default());
    let objects = Arc::new(FakeObjects::default());
    objects.put_config_map(cm(&[("a", "1"), ("b", "2")]));
    objects.put_secret(secret());
    let vm = VolumeManager::new(&root, mounter.clone(), objects.clone());
    Env {
        _dir: dir,
        root,
        mounter,
        objects,
        vm,
    }
}

fn pod(volumes: Vec<Volume>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            uid: Some("uid-1".into()),
            labels: Some([("app".to_string(), "web".to_string())].into()),
            ..meta("web")
        },
        spec: Some(PodSpec {
            volumes: Some(volumes),
            containers: vec![Container {
                name: "app".into(),
                resources: Some(k8s_openapi::api::core::v1::ResourceRequirements {
                    limits: Some([("memory".to_string(), Quantity("64Mi".into()))].into()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[tokio::test]
async fn empty_dirs_and_host_path() {
    let e = env();
    let host = e.root.join("host-data");
    let p = pod(vec![
        Volume {
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..vol("scratch")
        },
        Volume {
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".into()),
                size_limit: Some(Quantity("64Mi".into())),
            }),
            ..vol("mem")
        },
        Volume {
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".into()),
                size_limit: Some(Quantity("64Gi".into())),
            }),
            ..vol("big")
        },
        Volume {
            host_path: Some(HostPathVolumeSource {
                path: host.display().to_string(),
                type_: Some("DirectoryOrCreate".into()),
            }),
            ..vol("host")
        },
    ]);
    let vols = e.vm.setup_pod(&p, &info()).await.unwrap();
    let scratch = e
        .root
        .join("pods/uid-1/volumes/kubernetes.io~empty-dir/scratch");
    assert_eq!(vols["scratch"].host_path, scratch);
    assert!(!vols["scratch"].read_only);
    assert_eq!(mode(&scratch), 0o777);
    assert_eq!(vols["host"].host_path, host);
    assert!(host.is_dir());
    let mem = e
        .root
        .join("pods/uid-1/volumes/kubernetes.io~empty-dir/mem");
    let big = e
        .root
        .join("pods/uid-1/volumes/kubernetes.io~empty-dir/big");
    assert_eq!(
        e.mounter.calls(),
        vec![
            MountCall::Tmpfs(mem.clone(), Some(64 << 20)),
            // sizeLimit above allocatable is capped at allocatable.
            MountCall::Tmpfs(big.clone(), Some(1 << 30)),
        ]
    );
    // A second sync does not mount again.
    e.vm.setup_pod(&p, &info()).await.unwrap();
    assert_eq!(e.mounter.calls().len(), 2);

    e.vm.teardown_pod("uid-1").await.unwrap();
    assert!(e.mounter.mounted().is_empty());
    assert!(!e.root.join("pods/uid-1").exists());
    // hostPath content is never removed.
    assert!(host.is_dir());

    let p = pod(vec![Volume {
        host_path: Some(HostPathVolumeSource {
            path: e.root.join("nope").display().to_string(),
            type_: Some("Directory".into()),
        }),
        ..vol("host")
    }]);
    let err = e.vm.setup_pod(&p, &info()).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "MountVolume.SetUp failed for volume \"host\" : hostPath type check failed: {} is not a directory",
            e.root.join("nope").display()
        )
    );
}

#[tokio::test]
async fn config_map_secret_downward_api() {
    let e = env();
    let p = pod(vec![
        Volume {
            config_map: Some(ConfigMapVolumeSource {
                name: "cfg".into(),
                default_mode: Some(0o600),
                ..Default::default()
            }),
            ..vol("all")
        },
        Volume {
            config_map: Some(ConfigMapVolumeSource {
                name: "cfg".into(),
                items: Some(vec![KeyToPath {
                    key: "a".into(),
                    path: "dir/renamed".into(),
                    mode: Some(0o400),
                }]),
                ..Default::default()
            }),
            ..vol("items")
        },
        Volume {
            secret: Some(SecretVolumeSource {
                secret_name: Some("sec".into()),
                ..Default::default()
            }),
            ..vol("sec")
        },
        Volume {
            downward_api: Some(DownwardAPIVolumeSource {
                items: Some(vec![
                    DownwardAPIVolumeFile {
                        path: "labels".into(),
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "metadata.labels".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    DownwardAPIVolumeFile {
                        path: "mem".into(),
                        resource_field_ref: Some(ResourceFieldSelector {
                            container_name: Some("app".into()),
                            resource: "limits.memory".into(),
                            divisor: Some(Quantity("1Mi".into())),
                        }),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }),
            ..vol("dapi")
        },
        Volume {
            config_map: Some(ConfigMapVolumeSource {
                name: "missing".into(),
                optional: Some(true),
                ..Default::default()
            }),
            ..vol("optional")
        },
    ]);
    let vols = e.vm.setup_pod(&p, &info()).await.unwrap();
    let all = &vols["all"].host_path;
    assert!(vols["all"].read_only);
    assert_eq!(read(&all.join("a")), "1");
    assert_eq!(read(&all.join("b")), "2");
    assert_eq!(fs::read(all.join("bin")).unwrap(), vec![0, 1, 2]);
    assert_eq!(mode(&all.join("a")), 0o600);
    let items = &vols["items"].host_path;
    assert_eq!(read(&items.join("dir/renamed")), "1");
    assert_eq!(mode(&items.join("dir/renamed")), 0o400);
    assert!(!items.join("b").exists());
    let sec = &vols["sec"].host_path;
    assert!(sec.ends_with("kubernetes.io~secret/sec"));
    assert_eq!(read(&sec.join("token")), "s3cr3t");
    assert_eq!(mode(&sec.join("token")), 0o644);
    assert!(
        e.mounter.mounted().contains(sec),
        "secret volumes are tmpfs"
    );
    let dapi = &vols["dapi"].host_path;
    assert!(
        e.mounter.mounted().contains(dapi),
        "downwardAPI volumes are tmpfs"
    );
    assert!(
        !e.mounter.mounted().contains(all),
        "configMap volumes are on disk"
    );
    assert_eq!(read(&dapi.join("labels")), "app=\"web\"");
    assert_eq!(read(&dapi.join("mem")), "64");
    assert_eq!(
        fs::read_dir(&vols["optional"].host_path).unwrap().count(),
        2,
        "only ..data and its directory"
    );

    // Update: changed value lands, removed key vanishes, through a new ..data target.
    let before = fs::read_link(all.join("..data")).unwrap();
    e.objects.put_config_map(ConfigMap {
        binary_data: None,
        ..cm(&[("a", "changed")])
    });
    e.vm.setup_pod(&p, &info()).await.unwrap();
    assert_eq!(read(&all.join("a")), "changed");
    assert!(fs::symlink_metadata(all.join("b")).is_err());
    assert!(fs::symlink_metadata(all.join("bin")).is_err());
    assert_ne!(fs::read_link(all.join("..data")).unwrap(), before);
    assert_eq!(read(&items.join("dir/renamed")), "changed");

    // Missing objects and keys.
    let cases = vec![
        (
            Volume {
                config_map: Some(ConfigMapVolumeSource {
                    name: "missing".into(),
                    ..Default::default()
                }),
                ..vol("v")
            },
            "MountVolume.SetUp failed for volume \"v\" : configmaps \"missing\" not found",
        ),
        (
            Volume {
                config_map: Some(ConfigMapVolumeSource {
                    name: "cfg".into(),
                    items: Some(vec![KeyToPath {
                        key: "zzz".into(),
                        path: "z".into(),
                        mode: None,
                    }]),
                    ..Default::default()
                }),
                ..vol("v")
            },
            "MountVolume.SetUp failed for volume \"v\" : configmap references non-existent config key: zzz",
        ),
        (
            Volume {
                secret: Some(SecretVolumeSource {
                    secret_name: Some("nope".into()),
                    ..Default::default()
                }),
                ..vol("v")
            },
            "MountVolume.SetUp failed for volume \"v\" : secrets \"nope\" not found",
        ),
        (
            Volume {
                persistent_volume_claim: Some(Default::default()),
                ..vol("v")
            },
            "MountVolume.SetUp failed for volume \"v\" : volume type persistentVolumeClaim is not supported by this kubelet",
        ),
    ];
    for (v, want) in cases {
        let err = e.vm.setup_pod(&pod(vec![v]), &info()).await.unwrap_err();
        assert_eq!(err.to_string(), want);
    }
}

#[tokio::test]
async fn projected_volumes() {
    let e = env();
    let projected = |sources: Vec<VolumeProjection>| {
        pod(vec![Volume {
            projected: Some(ProjectedVolumeSource {
                sources: Some(sources),
                default_mode: Some(0o440),
            }),
            ..vol("proj")
        }])
    };
    let p = projected(vec![
        VolumeProjection {
            config_map: Some(ConfigMapProjection {
                name: "cfg".into(),
                items: Some(vec![KeyToPath {
                    key: "a".into(),
                    path: "cfg-a".into(),
                    mode: None,
                }]),
                optional: None,
            }),
            ..Default::default()
        },
        VolumeProjection {
            secret: Some(SecretProjection {
                name: "sec".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        VolumeProjection {
            downward_api: Some(DownwardAPIProjection {
                items: Some(vec![DownwardAPIVolumeFile {
                    path: "name".into(),
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "metadata.name".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
            }),
            ..Default::default()
        },
    ]);
    let vols = e.vm.setup_pod(&p, &info()).await.unwrap();
    let d = &vols["proj"].host_path;
    assert!(d.ends_with("kubernetes.io~projected/proj"));
    assert_eq!(read(&d.join("cfg-a")), "1");
    assert_eq!(read(&d.join("token")), "s3cr3t");
    assert_eq!(read(&d.join("name")), "web");
    assert_eq!(mode(&d.join("name")), 0o440);

    let p = projected(vec![VolumeProjection {
        service_account_token: Some(ServiceAccountTokenProjection {
            path: "token".into(),
            ..Default::default()
        }),
        ..Default::default()
    }]);
    let err = e.vm.setup_pod(&p, &info()).await.unwrap_err().to_string();
    assert!(
        err.contains("serviceAccountToken projection is not supported"),
        "{err}"
    );
}

fn vm_(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn container_mount_list() {
    let e = env();
    let p = pod(vec![
        Volume {
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..vol("scratch")
        },
        Volume {
            config_map: Some(ConfigMapVolumeSource {
                name: "cfg".into(),
                ..Default::default()
            }),
            ..vol("cfg")
        },
    ]);
    let vols = e.vm.setup_pod(&p, &info()).await.unwrap();
    let pod_dir = e.vm.pod_dir("uid-1");
    let hosts = write_hosts_file(&pod_dir, "# Kubernetes-managed hosts file.\n").unwrap();
    let c = Container {
        name: "app".into(),
        volume_mounts: Some(vec![
            VolumeMount {
                read_only: Some(true),
                mount_propagation: Some("HostToContainer".into()),
                ..vm_("scratch", "/data")
            },
            VolumeMount {
                sub_path: Some("logs/app".into()),
                ..vm_("scratch", "/logs")
            },
            VolumeMount {
                sub_path_expr: Some("$(POD_NAME)".into()),
                ..vm_("scratch", "/per-pod")
            },
            VolumeMount {
                sub_path: Some("a".into()),
                ..vm_("cfg", "/etc/a")
            },
            vm_("cfg", "/etc/cfg"),
        ]),
        termination_message_path: Some("/tmp/msg".into()),
        ..Default::default()
    };
    let env: HashMap<String, String> = [("POD_NAME".to_string(), "web".to_string())].into();
    let got = container_mounts(&p, &c, &pod_dir, &vols, &env, Some(&hosts)).unwrap();
    let scratch = &vols["scratch"].host_path;
    let m = &got.mounts;
    assert_eq!(m.len(), 7);
    assert_eq!(
        (m[0].container_path.as_str(), m[0].readonly),
        ("/data", true)
    );
    assert_eq!(
        m[0].propagation,
        MountPropagation::PropagationHostToContainer as i32
    );
    assert_eq!(
        m[1].host_path,
        scratch
            .join("logs/app")
            .canonicalize()
            .unwrap()
            .display()
            .to_string()
    );
    assert!(
        scratch.join("logs/app").is_dir(),
        "subPath directory is created"
    );
    assert_eq!(mode(&scratch.join("logs/app")), 0o777);
    assert!(m[2].host_path.ends_with("/web"));
    // subPath into a configMap resolves the ..data symlinks, inside the volume.
    assert!(
        m[3].host_path.contains("kubernetes.io~configmap/cfg/..20"),
        "{}",
        m[3].host_path
    );
    assert!(m[3].readonly, "configMap mounts are read-only");
    assert!(m[4].readonly);
    assert_eq!(
        m[4].propagation,
        MountPropagation::PropagationPrivate as i32
    );
    assert_eq!(
        (m[5].container_path.as_str(), m[5].host_path.clone()),
        ("/etc/hosts", hosts.display().to_string())
    );
    assert_eq!(m[6].container_path, "/tmp/msg");
    let tlog = got.termination_log.unwrap();
    assert!(tlog.starts_with(pod_dir.join("containers/app")));
    assert_eq!(mode(&tlog), 0o666);

    // A container mounting its own /etc/hosts does not get the managed one.
    let own = Container {
        name: "own".into(),
        volume_mounts: Some(vec![vm_("scratch", "/etc/hosts")]),
        ..Default::default()
    };
    let got = container_mounts(&p, &own, &pod_dir, &vols, &env, Some(&hosts)).unwrap();
    assert_eq!(
        got.mounts
            .iter()
            .filter(|m| m.container_path == "/etc/hosts")
            .count(),
        1
    );
    assert_eq!(
        got.mounts.last().unwrap().container_path,
        "/dev/termination-log"
    );

    let bad = |vm: VolumeMount| {
        let c = Container {
            name: "bad".into(),
            volume_mounts: Some(vec![vm]),
            termination_message_path: Some(String::new()),
            ..Default::default()
        };
        container_mounts(&p, &c, &pod_dir, &vols, &env, None)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        bad(vm_("nope", "/x")),
        "cannot find volume \"nope\" to mount into container \"bad\""
    );
    assert_eq!(
        bad(VolumeMount {
            sub_path: Some("/abs".into()),
            ..vm_("scratch", "/x")
        }),
        "error SubPath `/abs` must not be an absolute path"
    );
    assert_eq!(
        bad(VolumeMount {
            sub_path: Some("a/../../b".into()),
            ..vm_("scratch", "/x")
        }),
        "unable to provision SubPath `a/../../b`: must not contain '..'"
    );
    assert_eq!(
        bad(VolumeMount {
            sub_path_expr: Some("$(NOPE)/$(POD_NAME)".into()),
            ..vm_("scratch", "/x")
        }),
        "missing value for NOPE"
    );
    assert_eq!(
        bad(VolumeMount {
            mount_propagation: Some("Sideways".into()),
            ..vm_("scratch", "/x")
        }),
        "invalid MountPropagation mode: \"Sideways\""
    );
    // A symlink inside the volume pointing outside is refused.
    std::os::unix::fs::symlink("/etc", scratch.join("escape")).unwrap();
    assert!(bad(VolumeMount {
        sub_path: Some("escape".into()),
        ..vm_("scratch", "/x")
    })
    .starts_with("subpath"));
}

#[test]
fn termination_messages() {
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("msg");
    let log = dir.path().join("0.log");
    fs::write(&msg, "").unwrap();
    let mut cri = String::new();
    for i in 0..100 {
        cri.push_str(&format!(
            "2024-01-01T00:00:00.000000000Z stdout F line {i}\n"
        ));
    }
    cri.push_str("2024-01-01T00:00:00.000000000Z stderr P part-\n");
    cri.push_str("2024-01-01T00:00:00.000000000Z stderr F end\n");
    fs::write(&log, &cri).unwrap();

    let fallback = Some("FallbackToLogsOnError");
    assert_eq!(termination_message(Some(&msg), fallback, 0, Some(&log)), "");
    assert_eq!(
        termination_message(Some(&msg), Some("File"), 1, Some(&log)),
        ""
    );
    let got = termination_message(Some(&msg), fallback, 1, Some(&log));
    assert!(got.starts_with("line 21\n"), "{got}");
    assert!(got.ends_with("line 99\npart-end\n"), "{got}");
    assert_eq!(got.lines().count(), 80);

    fs::write(&msg, "custom message").unwrap();
    assert_eq!(
        termination_message(Some(&msg), fallback, 1, Some(&log)),
        "custom message"
    );
    fs::write(&msg, "x".repeat(5000) + "END").unwrap();
    let got = termination_message(Some(&msg), None, 1, None);
    assert_eq!(got.len(), 4096);
    assert!(got.ends_with("END"));

    // Long log lines: at most the last 2048 bytes.
    let long: String = (0..10)
        .map(|i| format!("2024-01-01T00:00:00Z stdout F {i}{}\n", "y".repeat(500)))
        .collect();
    fs::write(&log, long).unwrap();
    let got = termination_message(None, fallback, 2, Some(&log));
    assert_eq!(got.len(), 2048);
    assert_eq!(cri_log_tail("t stdout F a\nt stdout F b\n", 1), "b\n");

    // A log far bigger than the tail that is read, with invalid UTF-8 early on: only the
    // end is read, and the last lines come back.
    let mut big = b"2024-01-01T00:00:00Z stdout F \xff\xfe bad\n".to_vec();
    for i in 0..20_000 {
        big.extend_from_slice(format!("2024-01-01T00:00:00Z stdout F row {i}\n").as_bytes());
    }
    fs::write(&log, big).unwrap();
    let got = termination_message(None, fallback, 1, Some(&log));
    assert!(got.ends_with("row 19999\n"), "{got}");
    assert!(!got.contains("bad"), "{got}");
    let _ = BTreeMap::<(), ()>::new();
}

#[tokio::test]
async fn fs_group_applies_to_empty_dir_and_config_map() {
    use std::os::unix::fs::MetadataExt;
    let e = env();
    fs::create_dir_all(&e.root).unwrap();
    let gid = fs::metadata(&e.root).unwrap().gid();
    let mut p = pod(vec![
        Volume {
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..vol("scratch")
        },
        Volume {
            config_map: Some(ConfigMapVolumeSource {
                name: "cfg".into(),
                default_mode: Some(0o400),
                ..Default::default()
            }),
            ..vol("cfg")
        },
    ]);
    p.spec.as_mut().unwrap().security_context =
        Some(k8s_openapi::api::core::v1::PodSecurityContext {
            fs_group: Some(gid as i64),
            ..Default::default()
        });
    let vols = e.vm.setup_pod(&p, &info()).await.unwrap();
    assert_eq!(mode(&vols["scratch"].host_path), 0o2777);
    let a = vols["cfg"].host_path.join("a");
    assert_eq!(mode(&a), 0o440);
    assert_eq!(fs::metadata(&a).unwrap().gid(), gid);
}
