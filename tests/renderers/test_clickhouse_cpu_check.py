"""The existing-host readiness check refuses ClickHouse on a CPU its arm64 image cannot run on, from /proc/cpuinfo.

The shell runs for real (dash, bash, busybox sh) on sample /proc/cpuinfo files of real boards, in the format the
arm64 kernel writes (one block per core, "Features\t: ..."; the x86 kernel writes "flags" instead).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from renderers.existing_host import clickhouse_cpu_check, ready_command

TIMEOUT_S = 10


def _cores(features: str, part: str, count: int, model: str) -> str:
    core = (
        "processor\t: {n}\nBogoMIPS\t: 108.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\n"
        "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: {part}\nCPU revision\t: 3\n\n"
    )
    return "".join(core.format(n=n, features=features, part=part) for n in range(count)) + (
        f"Revision\t: c03114\nSerial\t\t: 100000002a5b3c4d\nModel\t\t: {model}\n" if model else ""
    )


# Raspberry Pi 4 (Cortex-A72, part 0xd08, ARMv8.0) and Pi 3 (Cortex-A53, 0xd03), 64-bit Raspberry Pi OS.
PI_4 = _cores("fp asimd evtstrm crc32 cpuid", "0xd08", 4, "Raspberry Pi 4 Model B Rev 1.4")
PI_3 = _cores("fp asimd evtstrm crc32 cpuid", "0xd03", 4, "Raspberry Pi 3 Model B Plus Rev 1.3")
# Raspberry Pi 5 (Cortex-A76, 0xd0b, ARMv8.2) and Ampere Altra / OCI A1 (Neoverse N1, 0xd0c, ARMv8.2).
PI_5 = _cores(
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp",
    "0xd0b", 4, "Raspberry Pi 5 Model B Rev 1.0",
)
AMPERE = _cores(
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs",
    "0xd0c", 2, "",
)
# ARMv8.1 atomics but no RCpc or dotprod: the image's LDAPR faults there too.
ATOMICS_ONLY = _cores("fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma dcpop",
                      "0x000", 2, "")
X86 = (
    "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU\n"
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sse sse2 ssse3 sse4_1 sse4_2 popcnt\n\n"
)


def _run(shell: str, tmp_path: Path, cpuinfo: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which(shell)
    assert found, f"{shell} is not installed; scripts/install-test-binaries installs it"
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    argv = [found, "sh", "-c"] if shell == "busybox" else [found, "-c"]
    return subprocess.run([*argv, clickhouse_cpu_check(str(path))], capture_output=True, text=True, timeout=TIMEOUT_S)


SHELLS = ["sh", "bash", "dash", "busybox"]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("cpuinfo", [PI_4, PI_3], ids=["pi-4", "pi-3"])
def test_an_armv8_0_pi_is_refused_naming_the_key_and_the_fix(shell: str, tmp_path: Path, cpuinfo: str) -> None:
    done = _run(shell, tmp_path, cpuinfo)
    assert done.returncode == 1, done
    assert "lacks atomics asimddp lrcpc," in done.stderr
    assert "pulumi config set --path analytics.enabled false" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("cpuinfo", [PI_5, AMPERE, X86], ids=["pi-5", "ampere-neoverse-n1", "x86"])
def test_an_armv8_2_cpu_or_a_non_arm_one_passes(shell: str, tmp_path: Path, cpuinfo: str) -> None:
    done = _run(shell, tmp_path, cpuinfo)
    assert (done.returncode, done.stderr) == (0, ""), done


@pytest.mark.parametrize("shell", SHELLS)
def test_atomics_alone_is_not_enough(shell: str, tmp_path: Path) -> None:
    done = _run(shell, tmp_path, ATOMICS_ONLY)
    assert done.returncode == 1 and "lacks asimddp lrcpc," in done.stderr, done


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_a_feature_is_matched_as_a_whole_word(shell: str, tmp_path: Path) -> None:
    lookalikes = _cores("fp asimd xatomics atomicsx asimddpx lrcpc2 ilrcpc", "0x000", 1, "")
    done = _run(shell, tmp_path, lookalikes)
    assert done.returncode == 1 and "lacks atomics asimddp lrcpc," in done.stderr, done


def test_only_a_stack_with_clickhouse_gets_the_cpu_check() -> None:
    without = ready_command("linux/arm64")
    assert "cpuinfo" not in without and without.endswith("; exit $ok")
    # After the engine's checks, before the exit: it fails the command at once, with its own message.
    assert ready_command("linux/arm64", clickhouse=True) == without.replace(
        "; exit $ok", f"; {clickhouse_cpu_check('/proc/cpuinfo')}; exit $ok")


@pytest.mark.parametrize("path", ["", "proc/cpuinfo", "/proc/cpu info", "/x;rm -rf /"])
def test_the_cpuinfo_path_is_never_shell_syntax(path: str) -> None:
    with pytest.raises(ValueError, match="cpuinfo"):
        clickhouse_cpu_check(path)
