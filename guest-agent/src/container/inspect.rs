//! Docker's views of a container: `GET /containers/{id}/json` (the full
//! `ContainerInspectResponse`) and a row of `GET /containers/json`. Every
//! field is filled, because Python clients index them without checking.
//!
//! Owns the translation from a record to those models; it must never
//! change anything.

use std::collections::HashMap;

use bollard_stubs::models::{
    ContainerInspectResponse, ContainerSummary, ContainerSummaryHostConfig, ContainerSummaryNetworkSettings,
    ContainerSummaryStateEnum, DriverData, NetworkSettings,
};

use super::clock;
use super::registry::Container;
use super::state::Status;

pub fn inspect(c: &Container, rootfs: Option<String>) -> ContainerInspectResponse {
    let rec = c.record();
    ContainerInspectResponse {
        id: Some(rec.id.clone()),
        created: Some(rec.created.clone()),
        path: Some(rec.path.clone()),
        args: Some(rec.args.clone()),
        state: Some(rec.state.model()),
        image: Some(rec.image_id.clone()),
        resolv_conf_path: Some(String::new()),
        hostname_path: Some(String::new()),
        hosts_path: Some(String::new()),
        log_path: Some(rec.log_path.display().to_string()),
        name: Some(format!("/{}", rec.name)),
        restart_count: Some(rec.restart_count),
        driver: Some("overlay2".into()),
        platform: Some("linux".into()),
        image_manifest_descriptor: None,
        mount_label: Some(String::new()),
        process_label: Some(String::new()),
        app_armor_profile: Some(String::new()),
        exec_ids: {
            let ids = c.exec_ids();
            if ids.is_empty() { None } else { Some(ids) }
        },
        host_config: Some(rec.host_config.clone()),
        graph_driver: Some(DriverData {
            name: "overlay2".into(),
            data: rootfs.map(|r| HashMap::from([("MergedDir".to_string(), r)])).unwrap_or_default(),
        }),
        size_rw: None,
        size_root_fs: None,
        mounts: Some(rec.mounts.iter().map(|m| m.point.clone()).collect()),
        config: Some(rec.config.clone()),
        network_settings: Some(NetworkSettings {
            bridge: Some(String::new()),
            sandbox_id: Some(String::new()),
            hairpin_mode: Some(false),
            link_local_ipv6_address: Some(String::new()),
            link_local_ipv6_prefix_len: Some(0),
            ports: Some(HashMap::new()),
            sandbox_key: Some(String::new()),
            secondary_ip_addresses: None,
            secondary_ipv6_addresses: None,
            endpoint_id: Some(String::new()),
            gateway: Some(String::new()),
            global_ipv6_address: Some(String::new()),
            global_ipv6_prefix_len: Some(0),
            ip_address: Some(String::new()),
            ip_prefix_len: Some(0),
            ipv6_gateway: Some(String::new()),
            mac_address: Some(String::new()),
            // Filled by the engine, which owns the container ↔ network relation.
            networks: Some(HashMap::new()),
        }),
    }
}

pub fn summary(c: &Container) -> ContainerSummary {
    let rec = c.record();
    let state = match rec.state.status {
        Status::Created => ContainerSummaryStateEnum::CREATED,
        Status::Running => ContainerSummaryStateEnum::RUNNING,
        Status::Paused => ContainerSummaryStateEnum::PAUSED,
        Status::Restarting => ContainerSummaryStateEnum::RESTARTING,
        Status::Removing => ContainerSummaryStateEnum::REMOVING,
        Status::Exited => ContainerSummaryStateEnum::EXITED,
        Status::Dead => ContainerSummaryStateEnum::DEAD,
    };
    ContainerSummary {
        id: Some(rec.id.clone()),
        names: Some(vec![format!("/{}", rec.name)]),
        image: Some(rec.image.clone()),
        image_id: Some(rec.image_id.clone()),
        image_manifest_descriptor: None,
        command: Some(rec.command_line()),
        created: Some(clock::unix_secs(&rec.created)),
        ports: Some(Vec::new()),
        size_rw: None,
        size_root_fs: None,
        labels: Some(rec.labels()),
        state: Some(state),
        status: Some(rec.state.human()),
        host_config: Some(ContainerSummaryHostConfig {
            network_mode: Some(rec.host_config.network_mode.clone().unwrap_or_else(|| "bridge".into())),
            annotations: None,
        }),
        network_settings: Some(ContainerSummaryNetworkSettings { networks: Some(HashMap::new()) }),
        mounts: Some(rec.mounts.iter().map(|m| m.point.clone()).collect()),
    }
}
