//! ImageLocality: prefers nodes that already have the pod's images, scaled by how many
//! nodes have them so one popular image does not pull every pod to the same place
//! (upstream `plugins/imagelocality`, default score weight 1).

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{
    CycleState, NodeInfo, Plugin, PluginSet, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::registry::{Handle, RegistryError};

/// The plugin's upstream name.
pub const NAME: &str = "ImageLocality";
const MB: i64 = 1024 * 1024;
/// Upstream `minThreshold`: 23 MB.
const MIN_THRESHOLD: i64 = 23 * MB;
/// Upstream `maxContainerThreshold`: 1000 MB per container.
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;
const STATE_KEY: &str = "PreScoreImageLocality";

/// The plugin.
pub struct ImageLocality;

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }
}

pub use crate::framework::normalized_image_name;

/// What PreScore leaves for Score: the pod's normalized image names, and per image how
/// many of all the nodes have it (shared with the snapshot, which the cache keeps up to
/// date as nodes change, rather than counted again for every pod).
struct PreScoreState {
    wanted: Vec<String>,
    image_nodes: Arc<HashMap<String, usize>>,
    total: usize,
}

fn pod_images(pod: &Pod) -> Vec<String> {
    pod.spec
        .iter()
        .flat_map(|s| {
            s.init_containers
                .iter()
                .flatten()
                .chain(s.containers.iter())
        })
        .filter_map(|c| c.image.as_deref())
        .map(normalized_image_name)
        .collect()
}

/// Upstream `calculatePriority`: clamps the summed scaled image sizes between 23 MB and
/// 1000 MB per container and maps that range to [0, 100].
pub fn calculate_priority(sum: i64, num_containers: usize) -> i64 {
    let max = MAX_CONTAINER_THRESHOLD * num_containers.max(1) as i64;
    let sum = sum.clamp(MIN_THRESHOLD, max);
    MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
}

impl PreScorePlugin for ImageLocality {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        let (image_nodes, total) = if state.snapshot.nodes.is_empty() {
            // No snapshot (plugin unit tests): count over the given nodes.
            let mut m: HashMap<String, usize> = HashMap::new();
            for n in nodes {
                for name in n.images.keys() {
                    *m.entry(name.clone()).or_insert(0) += 1;
                }
            }
            (Arc::new(m), nodes.len())
        } else {
            (
                state.snapshot.image_nodes.clone(),
                state.snapshot.nodes.len(),
            )
        };
        state.write(
            STATE_KEY,
            Arc::new(PreScoreState {
                wanted: pod_images(pod),
                image_nodes,
                total,
            }),
        );
        Status::success()
    }
}

impl ScorePlugin for ImageLocality {
    fn score(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let st = state
            .read::<Arc<PreScoreState>>(STATE_KEY)
            .ok_or_else(|| Status::error(format!("reading {STATE_KEY:?} from cycleState")))?;
        let total = st.total.max(1);
        let sum: i64 = if node.images.is_empty() {
            0
        } else {
            st.wanted
                .iter()
                .filter_map(|i| Some((node.images.get(i)?, st.image_nodes.get(i)?)))
                // Upstream `scaledImageScore`: size times the fraction of nodes with the
                // image.
                .map(|(size, n)| (*size as f64 * (*n as f64 / total as f64)) as i64)
                .sum()
        };
        Ok(calculate_priority(sum, st.wanted.len()))
    }
}

/// Builds the plugin; it takes no args.
pub fn factory(_args: Option<&serde_json::Value>, _h: &Handle) -> Result<PluginSet, RegistryError> {
    let p = Arc::new(ImageLocality);
    Ok(PluginSet {
        pre_score: Some(p.clone()),
        score: Some(p),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, node_info, pod};
    use serde_json::json;

    #[test]
    fn names() {
        let cases = [
            ("nginx", "nginx:latest"),
            ("nginx:1.25", "nginx:1.25"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("gcr.io/x/y@sha256:abc", "gcr.io/x/y@sha256:abc"),
        ];
        for (i, want) in cases {
            assert_eq!(normalized_image_name(i), want);
        }
    }

    #[test]
    fn score_table() {
        // Mirrors upstream image_locality_test.go: node1 has 40 MB and 300 MB images,
        // node2 has 250 MB and 10 MB ones.
        let n1 = node(
            "machine1",
            json!({"status": {"images": [
                {"names": ["gcr.io/40:latest", "gcr.io/40:v1"], "sizeBytes": 40 * MB},
                {"names": ["gcr.io/300:latest", "gcr.io/300:v1"], "sizeBytes": 300 * MB},
            ]}}),
        );
        let n2 = node(
            "machine2",
            json!({"status": {"images": [
                {"names": ["gcr.io/250:latest"], "sizeBytes": 250 * MB},
                {"names": ["gcr.io/10:latest", "gcr.io/10:v1"], "sizeBytes": 10 * MB},
            ]}}),
        );
        let nodes = vec![
            Arc::new(node_info(n1, vec![])),
            Arc::new(node_info(n2, vec![])),
        ];
        let p = |images: &[&str]| {
            let cs: Vec<_> = images
                .iter()
                .enumerate()
                .map(|(i, im)| json!({"name": format!("c{i}"), "image": im}))
                .collect();
            pod(json!({"containers": cs}))
        };
        let cases = [
            // 40 MB image on one of two nodes: (20 MB scaled) below the 23 MB floor -> 0;
            // 250 MB on machine2 scaled to 125 MB, two containers: 100 * (125 - 23) / (2000 - 23) = 5.
            (p(&["gcr.io/40", "gcr.io/250"]), vec![0, 5]),
            (p(&["gcr.io/300:v1"]), vec![12, 0]),
            (p(&["gcr.io/10", "gcr.io/2000"]), vec![0, 0]),
        ];
        for (i, (pd, want)) in cases.into_iter().enumerate() {
            let mut st = CycleState::default();
            ImageLocality.pre_score(&mut st, &pd, &nodes);
            let got: Vec<i64> = nodes
                .iter()
                .map(|n| ImageLocality.score(&st, &pd, n).unwrap())
                .collect();
            assert_eq!(got, want, "case {i}");
        }
    }
}
