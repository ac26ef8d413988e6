//! The apiserver's PKI: a cluster CA, the serving certificate and the admin client
//! certificate, created on first start under the data directory, like kubeadm's `certs`
//! phase does for upstream (ca.crt/ca.key, apiserver.crt/apiserver.key, admin.kubeconfig).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Errors creating or loading certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// reading or writing a certificate file failed
    #[error("certificate file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// generating or parsing a certificate failed
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// Paths of the PKI files under `<data-dir>/pki`.
#[derive(Debug, Clone)]
pub struct Pki {
    /// CA certificate (PEM).
    pub ca_cert: PathBuf,
    /// CA key (PEM).
    pub ca_key: PathBuf,
    /// Serving certificate (PEM).
    pub serving_cert: PathBuf,
    /// Serving key (PEM).
    pub serving_key: PathBuf,
    /// Admin client certificate (PEM), CN=admin, O=system:masters.
    pub admin_cert: PathBuf,
    /// Admin client key (PEM).
    pub admin_key: PathBuf,
    /// The apiserver's client certificate toward kubelets (PEM), CN
    /// kube-apiserver-kubelet-client, O=system:masters as kubeadm issues it.
    pub kubelet_client_cert: PathBuf,
    /// Its key (PEM).
    pub kubelet_client_key: PathBuf,
}

fn write(path: &Path, contents: &str, private: bool) -> Result<(), CertError> {
    let io = |source| CertError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // Write then rename so a crash never leaves a half-written key behind.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(io)?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

fn read(path: &Path) -> Result<String, CertError> {
    std::fs::read_to_string(path).map_err(|source| CertError::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl Pki {
    /// The file layout under `dir`.
    pub fn at(dir: &Path) -> Pki {
        Pki {
            ca_cert: dir.join("ca.crt"),
            ca_key: dir.join("ca.key"),
            serving_cert: dir.join("apiserver.crt"),
            serving_key: dir.join("apiserver.key"),
            admin_cert: dir.join("admin.crt"),
            admin_key: dir.join("admin.key"),
            kubelet_client_cert: dir.join("apiserver-kubelet-client.crt"),
            kubelet_client_key: dir.join("apiserver-kubelet-client.key"),
        }
    }

    /// Creates whatever is missing: the CA, then certificates signed by it. Existing files are
    /// kept, so restarts keep the same identity and old kubeconfigs stay valid.
    pub fn ensure(&self, hosts: &[String]) -> Result<(), CertError> {
        if !self.ca_cert.exists() || !self.ca_key.exists() {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, "rudder-ca");
            params.distinguished_name = dn;
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let cert = params.self_signed(&key)?;
            write(&self.ca_key, &key.serialize_pem(), true)?;
            write(&self.ca_cert, &cert.pem(), false)?;
            // A new CA invalidates everything signed by an old one.
            let _ = std::fs::remove_file(&self.serving_cert);
            let _ = std::fs::remove_file(&self.admin_cert);
            let _ = std::fs::remove_file(&self.kubelet_client_cert);
        }
        if !self.serving_cert.exists() || !self.serving_key.exists() {
            let (cert, key) = self.issue(
                "kube-apiserver",
                &[],
                hosts,
                ExtendedKeyUsagePurpose::ServerAuth,
            )?;
            write(&self.serving_key, &key, true)?;
            write(&self.serving_cert, &cert, false)?;
        }
        if !self.admin_cert.exists() || !self.admin_key.exists() {
            let (cert, key) = self.issue(
                "admin",
                &["system:masters"],
                &[],
                ExtendedKeyUsagePurpose::ClientAuth,
            )?;
            write(&self.admin_key, &key, true)?;
            write(&self.admin_cert, &cert, false)?;
        }
        if !self.kubelet_client_cert.exists() || !self.kubelet_client_key.exists() {
            let (cert, key) = self.issue(
                "kube-apiserver-kubelet-client",
                &["system:masters"],
                &[],
                ExtendedKeyUsagePurpose::ClientAuth,
            )?;
            write(&self.kubelet_client_key, &key, true)?;
            write(&self.kubelet_client_cert, &cert, false)?;
        }
        Ok(())
    }

    /// Issues a certificate signed by the CA; returns (cert PEM, key PEM). Client
    /// certificates carry the user in CN and groups in O, as upstream's x509 authenticator
    /// reads them.
    pub fn issue(
        &self,
        common_name: &str,
        organizations: &[&str],
        hosts: &[String],
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<(String, String), CertError> {
        let ca_key = KeyPair::from_pem(&read(&self.ca_key)?)?;
        let issuer = Issuer::from_ca_cert_pem(&read(&self.ca_cert)?, ca_key)?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        for o in organizations {
            dn.push(DnType::OrganizationName, *o);
        }
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![usage];
        for h in hosts {
            match h.parse::<IpAddr>() {
                Ok(ip) => params.subject_alt_names.push(SanType::IpAddress(ip)),
                Err(_) => params
                    .subject_alt_names
                    .push(SanType::DnsName(h.as_str().try_into()?)),
            }
        }
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// Writes a kubeconfig for `user` with embedded certificate data (like kubeadm's
/// admin.conf), so it works from any directory.
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    user: &str,
) -> Result<(), CertError> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let doc = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: rudder\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: {user}@rudder\n  context:\n    cluster: rudder\n    user: {user}\ncurrent-context: {user}@rudder\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n",
        ca = b64(ca_pem),
        cert = b64(cert_pem),
        key = b64(key_pem),
    );
    write(path, &doc, true)
}

/// Reads a PEM file.
pub fn read_pem(path: &Path) -> Result<String, CertError> {
    read(path)
}
