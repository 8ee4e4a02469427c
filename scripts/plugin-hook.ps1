# Windows side of scripts/plugin-hook.sh: put bin\helm-ecr.exe in both
# plugins (ecr-push, the repository root, and plugins\ecr-login) from the
# release's helm-ecr-VERSION-windows-ARCH.tar.gz, its sha256 checked against
# checksums.txt; cargo only when the release has no binary for this platform
# and cargo is on PATH. Any other failure is one error and nothing is
# installed (a failed install also removes the plugin Helm just put in
# HELM_PLUGINS, so the same install can be re-run).
#
# Helm 3 runs legacy hooks with `sh -c`; with Git for Windows' sh the hook
# hands over to this script. Without sh, run it by hand after installing:
#   $env:HELM_PLUGIN_DIR = "$(helm env HELM_PLUGINS)\helm-ecr"
#   powershell -NoProfile -ExecutionPolicy Bypass -File "$env:HELM_PLUGIN_DIR\scripts\plugin-hook.ps1" install
#
# Environment: HELM_PLUGIN_DIR, HELM_PLUGINS, HELM_BIN, HELM_ECR_RELEASE_URL,
# HELM_ECR_BUILD_FROM_SOURCE=1, CARGO_TARGET_DIR (as plugin-hook.sh).
param([string]$Action = "install")

$ErrorActionPreference = "Stop"
$ProgressPreference = "SilentlyContinue"

function Say([string]$Message) { [Console]::Error.WriteLine("helm-ecr: $Message") }

$script:Tmp = $null

function Fail([string]$Message) {
    $undone = ""
    if ($script:Tmp -and (Test-Path -LiteralPath $script:Tmp)) {
        Remove-Item -LiteralPath $script:Tmp -Recurse -Force -ErrorAction SilentlyContinue
    }
    if ($Action -eq "install" -and $env:HELM_PLUGINS -and (Test-Path -LiteralPath $env:HELM_PLUGINS)) {
        $parent = Split-Path -Parent $env:HELM_PLUGIN_DIR.TrimEnd('\', '/')
        $plugins = (Resolve-Path -LiteralPath $env:HELM_PLUGINS).Path.TrimEnd('\', '/')
        if ($parent -and ((Resolve-Path -LiteralPath $parent).Path.TrimEnd('\', '/') -eq $plugins)) {
            $item = Get-Item -LiteralPath $env:HELM_PLUGIN_DIR -Force -ErrorAction SilentlyContinue
            if ($item) {
                if ($item.LinkType) { $item.Delete() } else { Remove-Item -LiteralPath $item.FullName -Recurse -Force }
                $undone = " (nothing was installed: run the same 'helm plugin install' again once that is fixed)"
            }
        }
    }
    # `helm plugin update` of a git install cleans the checkout (git clean -x)
    # before this hook runs, so the old binary may already be gone.
    if ($Action -eq "update" -and $env:HELM_PLUGIN_DIR) {
        if (Test-Path -LiteralPath (Join-Path $env:HELM_PLUGIN_DIR "bin\helm-ecr.exe")) {
            $undone = " (the installed helm-ecr is unchanged)"
        } else {
            $undone = " (Helm's update removed the previous binary before this hook ran: ecr-push and ecr-login have none until 'helm plugin update ecr-push' succeeds; run it again once that is fixed)"
        }
    }
    Say "error: $Message$undone"
    exit 1
}

if ($Action -ne "install" -and $Action -ne "update") { Fail "unknown hook action '$Action' (install or update)" }
if (-not $env:HELM_PLUGIN_DIR) { Fail "HELM_PLUGIN_DIR is not set: this script is run by 'helm plugin install/update'" }

$PluginDir = (Get-Item -LiteralPath $env:HELM_PLUGIN_DIR).FullName
$Root = (Resolve-Path -LiteralPath (Join-Path $PSScriptRoot "..")).Path
$Version = (Select-String -LiteralPath (Join-Path $Root "plugin.yaml") -Pattern '^version:\s*(\S+)' |
    Select-Object -First 1).Matches[0].Groups[1].Value

$Arch = switch ($env:PROCESSOR_ARCHITECTURE) {
    "AMD64" { "amd64" }
    "ARM64" { "arm64" }
    default { "" }
}

function Get-ReleaseBase {
    if ($env:HELM_ECR_RELEASE_URL) { return $env:HELM_ECR_RELEASE_URL.TrimEnd('/') }
    if (-not (Get-Command git -ErrorAction SilentlyContinue)) { return $null }
    $url = & git -C $Root config --get remote.origin.url 2>$null
    if ($url -match 'github\.com[:/]([^/]+/[^/]+?)(\.git)?$') {
        return "https://github.com/$($Matches[1])/releases/download/v$Version"
    }
    return $null
}

# Returns "ok", "missing" (404/410 or no such file) or throws with the reason.
function Get-File([string]$Url, [string]$Out) {
    if ($Url.StartsWith("file://")) {
        $path = $Url.Substring(7)
        if ($path -match '^/[A-Za-z]:') { $path = $path.Substring(1) }
        if (-not (Test-Path -LiteralPath $path -PathType Leaf)) { return "missing" }
        Copy-Item -LiteralPath $path -Destination $Out
        return "ok"
    }
    try {
        Invoke-WebRequest -Uri $Url -OutFile $Out -UseBasicParsing -TimeoutSec 300
        return "ok"
    } catch {
        $status = $null
        if ($_.Exception.Response) { $status = [int]$_.Exception.Response.StatusCode }
        if ($status -eq 404 -or $status -eq 410) { return "missing" }
        throw "cannot download ${Url}: $($_.Exception.Message) (check the network, or set HELM_ECR_RELEASE_URL)"
    }
}

function Install-Binary([string]$File) {
    $dirs = @()
    foreach ($d in @($Root, (Join-Path $Root "plugins\ecr-login"))) {
        if (-not (Test-Path -LiteralPath (Join-Path $d "plugin.yaml"))) { continue }
        $bin = Join-Path $d "bin"
        New-Item -ItemType Directory -Force -Path $bin | Out-Null
        Copy-Item -LiteralPath $File -Destination (Join-Path $bin ".helm-ecr.exe.new") -Force
        $dirs += $bin
    }
    foreach ($bin in $dirs) {
        Move-Item -LiteralPath (Join-Path $bin ".helm-ecr.exe.new") -Destination (Join-Path $bin "helm-ecr.exe") -Force
    }
}

# Returns $null when installed, else why the release has no binary to use.
function Install-Release {
    if ($env:HELM_ECR_BUILD_FROM_SOURCE -eq "1") { return "HELM_ECR_BUILD_FROM_SOURCE=1" }
    if (-not $Arch) { return "helm-ecr publishes no binary for windows/$($env:PROCESSOR_ARCHITECTURE) (only amd64, arm64)" }
    $base = Get-ReleaseBase
    if (-not $base) { return "no release URL is known for this copy (no GitHub remote): set HELM_ECR_RELEASE_URL to the release's base URL" }
    $asset = "helm-ecr-$Version-windows-$Arch.tar.gz"
    Say "downloading $base/$asset"
    $sums = Join-Path $script:Tmp "checksums.txt"
    if ((Get-File "$base/checksums.txt" $sums) -eq "missing") { return "$base/checksums.txt does not exist (no release $Version there)" }
    $want = $null
    foreach ($line in Get-Content -LiteralPath $sums) {
        $f = $line -split '\s+', 2
        if ($f.Count -eq 2 -and ($f[1] -eq $asset -or $f[1] -eq "*$asset")) { $want = $f[0].ToLowerInvariant(); break }
    }
    if (-not $want) { return "release $Version has no binary for windows/$Arch ($asset is not in checksums.txt)" }
    $archive = Join-Path $script:Tmp $asset
    if ((Get-File "$base/$asset" $archive) -eq "missing") { throw "$base/$asset does not exist although checksums.txt lists it: the release is incomplete" }
    $got = (Get-FileHash -LiteralPath $archive -Algorithm SHA256).Hash.ToLowerInvariant()
    if ($got -ne $want) { throw "checksum mismatch for ${asset}: checksums.txt says $want, the download is $got; not installing it" }
    $x = Join-Path $script:Tmp "x"
    New-Item -ItemType Directory -Path $x | Out-Null
    # tar.exe (bsdtar) ships with Windows 10 1803 and later.
    & tar -xzf $archive -C $x "helm-ecr.exe" 2>$null
    $exe = Join-Path $x "helm-ecr.exe"
    if ($LASTEXITCODE -ne 0 -or -not (Test-Path -LiteralPath $exe -PathType Leaf)) { throw "$asset holds no helm-ecr.exe" }
    & $exe --version *> $null
    if ($LASTEXITCODE -ne 0) { throw "the helm-ecr.exe in $asset does not run on this machine (windows/$Arch)" }
    Install-Binary $exe
    Say "installed helm-ecr $Version for windows/$Arch (sha256 checked)"
    return $null
}

function Build-FromSource([string]$Missing) {
    if (-not (Test-Path -LiteralPath (Join-Path $Root "Cargo.toml"))) { throw "no release binary to install ($Missing), and no source to build here" }
    if (-not (Get-Command cargo -ErrorAction SilentlyContinue)) { throw "no release binary to install ($Missing), and cargo is not on PATH to build one" }
    Say "no release binary to install ($Missing): building helm-ecr $Version from source with cargo (a few minutes the first time)"
    Push-Location $Root
    try { & cargo build --release --locked } finally { Pop-Location }
    if ($LASTEXITCODE -ne 0) { throw "cargo build failed (see above)" }
    $target = if ($env:CARGO_TARGET_DIR) { $env:CARGO_TARGET_DIR } else { Join-Path $Root "target" }
    if (-not [System.IO.Path]::IsPathRooted($target)) { $target = Join-Path $Root $target }
    $exe = Join-Path $target "release\helm-ecr.exe"
    if (-not (Test-Path -LiteralPath $exe)) { throw "cargo finished but $exe is missing" }
    Install-Binary $exe
    Say "built $exe"
}

function Install-LoginPlugin {
    if ($PluginDir -ne $Root) { return }
    $login = Join-Path $Root "plugins\ecr-login"
    if (-not (Test-Path -LiteralPath (Join-Path $login "plugin.yaml"))) { return }
    $helm = if ($env:HELM_BIN) { $env:HELM_BIN } else { "helm" }
    $names = & $helm plugin list 2>$null | Select-Object -Skip 1 | ForEach-Object { ($_ -split '\s+')[0] }
    if ($names -contains "ecr-login") { return }
    Say "installing the ecr-login plugin from $login"
    & $helm plugin install $login | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "could not install the ecr-login plugin: run '$helm plugin install $login'" }
}

try {
    $script:Tmp = Join-Path ([System.IO.Path]::GetTempPath()) ("helm-ecr-" + [System.Guid]::NewGuid().ToString("N"))
    New-Item -ItemType Directory -Path $script:Tmp | Out-Null
    if ($Action -eq "update" -or -not (Test-Path -LiteralPath (Join-Path $PluginDir "bin\helm-ecr.exe"))) {
        $missing = Install-Release
        if ($missing) { Build-FromSource $missing }
    }
    if ($Action -eq "install") { Install-LoginPlugin }
} catch {
    Fail $_.Exception.Message
} finally {
    if ($script:Tmp -and (Test-Path -LiteralPath $script:Tmp)) {
        Remove-Item -LiteralPath $script:Tmp -Recurse -Force -ErrorAction SilentlyContinue
    }
}
