//! kubelet: not runnable yet; the pod workers are being written.

fn main() -> std::process::ExitCode {
    eprintln!("kubelet: not implemented yet");
    std::process::ExitCode::FAILURE
}
