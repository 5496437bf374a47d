//! benches/side_by_side.sh with `PY` set to a virtualenv's python: the
//! PyTorch runs must use that interpreter by its own path (a venv's
//! bin/python is a symlink, and resolving it gives the base interpreter,
//! which cannot import the venv's torch).
//!
//! The venv is built by hand (a symlink and a pyvenv.cfg, as `python -m
//! venv` makes them) with a stand-in `torch` module, so no download and no
//! real torch are needed; the benchmarks are stand-ins printing a JSON line.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

fn base_python() -> Option<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys; print(sys.executable); print(sys.version_info[0], sys.version_info[1])",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn a_virtualenv_python_runs_the_pytorch_side() {
    let Some(info) = base_python() else {
        eprintln!("skipped: no python3 on this machine");
        return;
    };
    let mut lines = info.lines();
    let exe = lines.next().unwrap().to_string();
    let version = lines.next().unwrap().replace(' ', ".");
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    fs::create_dir_all(venv.join("bin")).unwrap();
    symlink(&exe, venv.join("bin/python")).unwrap();
    let home = Path::new(&exe).parent().unwrap().display().to_string();
    write(
        &venv.join("pyvenv.cfg"),
        &format!("home = {home}\ninclude-system-site-packages = false\n"),
    );
    let site = venv.join(format!("lib/python{version}/site-packages"));
    write(&site.join("torch.py"), "IN_VENV = True\n");

    let reference = tmp.path().join("ref");
    write(
        &reference.join("bench_mlp_gan.py"),
        "import torch\nassert torch.IN_VENV\nprint('{\"impl\": \"pytorch\"}')\n",
    );
    write(
        &reference.join("make_report.py"),
        "import sys, torch\nprint(open(sys.argv[1]).read())\n",
    );
    let bin = tmp.path().join("burn_bench");
    write(&bin, "#!/bin/sh\necho '{\"impl\": \"burn\"}'\n");
    Command::new("chmod").arg("+x").arg(&bin).status().unwrap();
    let results = tmp.path().join("results.jsonl");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/side_by_side.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("PY", venv.join("bin/python"))
        .env("REF", &reference)
        .env("BIN", &bin)
        .env("OUT", &results)
        .env("MODELS", "mlp_gan")
        .env("THREADS", "1")
        .env("QUIET_MAX", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rows = fs::read_to_string(&results).unwrap();
    assert!(
        rows.contains("\"pytorch\""),
        "no PyTorch row: {rows}\n{stderr}"
    );
    assert!(rows.contains("\"burn\""), "no burn row: {rows}\n{stderr}");

    // A python without torch is named at once, not as failed runs.
    let out = Command::new("bash")
        .arg(&script)
        .env("PY", &exe)
        .env("REF", &reference)
        .env("BIN", &bin)
        .env("OUT", &results)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if Command::new(&exe)
        .args(["-c", "import torch"])
        .status()
        .unwrap()
        .success()
    {
        return; // this machine's python has a real torch
    }
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot import torch"), "{stderr}");
}
