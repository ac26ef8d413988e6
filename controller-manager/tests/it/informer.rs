//! The shared informer factory: one cache per type, every subscriber notified after the
//! store reflects a change, late subscribers replayed the cache as `Added`.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use kube::Api;
use parking_lot::Mutex;
use rudder_controller_manager::informer::{Notification, SharedInformerFactory};

use crate::common::{wait_for, Cluster};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({"metadata": {"name": name, "namespace": "inf"}}))
        .unwrap()
}

type Seen = Arc<Mutex<Vec<String>>>;

fn recorder() -> (
    Seen,
    impl Fn(Notification<ConfigMap>) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (seen, move |n: Notification<ConfigMap>| {
        let kind = match &n {
            Notification::Added(_) => "add",
            Notification::Updated { .. } => "update",
            Notification::Deleted(_) => "delete",
        };
        let o = n.object();
        if o.metadata.namespace.as_deref() == Some("inf") {
            s.lock()
                .push(format!("{kind} {}", o.metadata.name.as_deref().unwrap()));
        }
    })
}

#[tokio::test]
async fn shared_informer_one_cache_many_subscribers() {
    let c = Cluster::start("-*").await;
    c.namespace("inf").await;
    let api = Api::<ConfigMap>::namespaced(c.client.clone(), "inf");
    api.create(&PostParams::default(), &cm("one"))
        .await
        .unwrap();

    let factory = SharedInformerFactory::new(c.client.clone());
    let (seen_a, handler_a) = recorder();
    let a = factory.subscribe::<ConfigMap>(handler_a);
    a.synced().await;
    wait_for("first subscriber sees the existing object", 10, || async {
        seen_a.lock().contains(&"add one".to_string()).then_some(())
    })
    .await;

    // A late subscriber is replayed the cache before it gets live notifications.
    let (seen_b, handler_b) = recorder();
    let b = factory.subscribe::<ConfigMap>(handler_b);
    assert_eq!(seen_b.lock().as_slice(), ["add one"]);
    assert_eq!(factory.started(), 1, "one list-watch for both subscribers");

    // Notifications come after the store has the change.
    let store = b.store.clone();
    let (seen_c, _) = recorder();
    let seen_c2 = seen_c.clone();
    let _c = factory.subscribe::<ConfigMap>(move |n: Notification<ConfigMap>| {
        if let Notification::Added(o) = &n {
            if o.metadata.name.as_deref() == Some("two") {
                let in_store = store
                    .state()
                    .iter()
                    .any(|x| x.metadata.name.as_deref() == Some("two"));
                seen_c2.lock().push(format!("in store: {in_store}"));
            }
        }
    });
    api.create(&PostParams::default(), &cm("two"))
        .await
        .unwrap();
    for seen in [&seen_a, &seen_b] {
        wait_for("both subscribers see the new object", 10, || async {
            seen.lock().contains(&"add two".to_string()).then_some(())
        })
        .await;
    }
    wait_for("store-first check ran", 10, || async {
        (!seen_c.lock().is_empty()).then_some(())
    })
    .await;
    assert_eq!(seen_c.lock().as_slice(), ["in store: true"]);

    // An unsubscribed handler hears nothing more.
    drop(a);
    api.delete("one", &Default::default()).await.unwrap();
    wait_for("remaining subscriber sees the delete", 10, || async {
        seen_b
            .lock()
            .contains(&"delete one".to_string())
            .then_some(())
    })
    .await;
    assert!(!seen_a.lock().contains(&"delete one".to_string()));
    drop(b);
    drop(factory);
    c.stop().await;
}
