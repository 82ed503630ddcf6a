// Package deploy_test checks the deployment files statically, because no Docker engine runs
// where the tests run: docker-compose.yml against the CLI it starts (subcommands, flags,
// topology files), the services it names and the Prometheus scrape configuration; the
// alert rules with promtool; the Grafana dashboard against the metrics the code registers.
package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/streamhub/streamhub/topology"
)

// The tests run in deploy/.
const root = ".."

var (
	composePath    = filepath.Join(root, "docker-compose.yml")
	dockerfilePath = filepath.Join(root, "Dockerfile")
	promConfigPath = filepath.Join("prometheus", "prometheus.yml")
	alertsPath     = filepath.Join("prometheus", "alerts.yml")
	alertTestsPath = filepath.Join("prometheus", "alerts_test.yml")
	dashboardPath  = filepath.Join("grafana", "streamhub.json")
	datasourcePath = filepath.Join("grafana", "provisioning", "datasources", "prometheus.yml")
)

// requireTool finds an external tool: missing, it skips loudly on a laptop and fails in CI,
// as every test that needs a tool does in this repository.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found on PATH (%s)", name, install)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI must have it", msg)
	}
	t.Skipf("SKIPPING: %s", msg)
	return ""
}

// ---------------------------------------------------------------- the compose file

type composeFile struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image       string         `yaml:"image"`
	Build       any            `yaml:"build"`
	Command     any            `yaml:"command"`
	Entrypoint  any            `yaml:"entrypoint"`
	Environment any            `yaml:"environment"`
	DependsOn   any            `yaml:"depends_on"`
	Volumes     []string       `yaml:"volumes"`
	Healthcheck map[string]any `yaml:"healthcheck"`
	Restart     string         `yaml:"restart"`
}

func (s service) streamhub() bool { return s.Build != nil || strings.HasPrefix(s.Image, "streamhub:") }

// oneShot: a job that runs to completion (topology apply, the seed), not a role.
func (s service) oneShot() bool { return s.Restart == "no" }

func (s service) command() []string { return stringList(s.Command) }

func stringList(v any) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = fmt.Sprint(x)
		}
		return out
	}
	panic(fmt.Sprintf("unexpected %T", v))
}

func (s service) env() map[string]string {
	out := map[string]string{}
	switch v := s.Environment.(type) {
	case map[string]any:
		for k, x := range v {
			out[k] = fmt.Sprint(x)
		}
	case []any:
		for _, x := range v {
			k, val, _ := strings.Cut(fmt.Sprint(x), "=")
			out[k] = val
		}
	}
	return out
}

// dependsOn maps each dependency to its condition (service_started for the list form).
func (s service) dependsOn() map[string]string {
	out := map[string]string{}
	switch v := s.DependsOn.(type) {
	case []any:
		for _, x := range v {
			out[fmt.Sprint(x)] = "service_started"
		}
	case map[string]any:
		for k, x := range v {
			cond := "service_started"
			if m, ok := x.(map[string]any); ok && m["condition"] != nil {
				cond = fmt.Sprint(m["condition"])
			}
			out[k] = cond
		}
	}
	return out
}

// hostPath maps a path inside the container to the repository file bind-mounted there.
func (s service) hostPath(containerPath string) (string, bool) {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !strings.HasPrefix(parts[0], ".") {
			continue
		}
		src, dst := parts[0], parts[1]
		if containerPath == dst {
			return filepath.Join(root, src), true
		}
		if rest, ok := strings.CutPrefix(containerPath, strings.TrimSuffix(dst, "/")+"/"); ok {
			return filepath.Join(root, src, rest), true
		}
	}
	return "", false
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	if len(c.Services) == 0 {
		t.Fatalf("%s: no services", composePath)
	}
	return c
}

func sortedNames(m map[string]service) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// pinned reports whether an image reference names a tag other than latest, or a digest.
func pinned(ref string) bool {
	if strings.Contains(ref, "@sha256:") {
		return true
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	return ok && tag != "" && tag != "latest"
}

func TestComposeImagesPinned(t *testing.T) {
	c := loadCompose(t)
	for _, name := range sortedNames(c.Services) {
		s := c.Services[name]
		if s.Image == "" && s.Build == nil {
			t.Errorf("service %s: neither image nor build", name)
			continue
		}
		if s.Image != "" && !pinned(s.Image) {
			t.Errorf("service %s: image %q is not pinned to a version (a tag other than latest, or a digest)", name, s.Image)
		}
	}

	data, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]bool{}
	froms := 0
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.EqualFold(f[0], "FROM") {
			continue
		}
		froms++
		if img := f[1]; !stages[img] && !pinned(img) {
			t.Errorf("Dockerfile: FROM %s is not pinned", img)
		}
		if len(f) >= 4 && strings.EqualFold(f[2], "AS") {
			stages[f[3]] = true
		}
	}
	if froms == 0 {
		t.Error("Dockerfile: no FROM")
	}
}

func TestComposeDependsOn(t *testing.T) {
	c := loadCompose(t)
	for _, name := range sortedNames(c.Services) {
		for dep, cond := range c.Services[name].dependsOn() {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("service %s depends on %q, which is not a service", name, dep)
				continue
			}
			switch cond {
			case "service_started":
			case "service_healthy":
				if target.Healthcheck == nil || target.Healthcheck["disable"] == true {
					t.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
				}
			case "service_completed_successfully":
				if !target.oneShot() {
					t.Errorf("service %s waits for %s to complete, but %s is restarted (restart: %q), so it is not a job", name, dep, dep, target.Restart)
				}
			default:
				t.Errorf("service %s: depends_on %s: unknown condition %q", name, dep, cond)
			}
		}
	}
}

func TestComposeBindMountsExist(t *testing.T) {
	c := loadCompose(t)
	for _, name := range sortedNames(c.Services) {
		for _, v := range c.Services[name].Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") {
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("service %s: volume %q is neither a repository path nor a declared named volume", name, src)
				}
				continue
			}
			if _, err := os.Stat(filepath.Join(root, src)); err != nil {
				t.Errorf("service %s: bind mount %s: %v", name, v, err)
			}
		}
	}
}

// Every AWS client is built by the SDK's LoadDefaultConfig, so the compose file reaches
// DynamoDB Local and MinIO only through the standard variables.
func TestComposeAWSEnvironment(t *testing.T) {
	c := loadCompose(t)
	want := []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "AWS_ENDPOINT_URL_S3",
		"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
	for _, name := range sortedNames(c.Services) {
		s := c.Services[name]
		if !s.streamhub() && name != "seed" {
			continue
		}
		env := s.env()
		for _, k := range want {
			v, ok := env[k]
			if !ok || v == "" {
				t.Errorf("service %s: %s is not set", name, k)
				continue
			}
			if !strings.HasPrefix(k, "AWS_ENDPOINT_URL") {
				continue
			}
			u, err := url.Parse(v)
			if err != nil {
				t.Errorf("service %s: %s=%q: %v", name, k, v, err)
				continue
			}
			if _, ok := c.Services[u.Hostname()]; !ok {
				t.Errorf("service %s: %s=%q: no service %q", name, k, v, u.Hostname())
			}
		}
	}
	for _, peer := range []struct{ service, image string }{{"dynamodb", "amazon/dynamodb-local:"}, {"minio", "minio/minio:"}} {
		if s, ok := c.Services[peer.service]; !ok || !strings.HasPrefix(s.Image, peer.image) {
			t.Errorf("service %s must run the real peer's image %s* (issue 10), got %q", peer.service, peer.image, s.Image)
		}
	}
	ddb := strings.Join(c.Services["dynamodb"].command(), " ")
	if !strings.Contains(ddb, "-sharedDb") {
		t.Errorf("dynamodb: command %q lacks -sharedDb: DynamoDB Local would keep one database per access key and region", ddb)
	}
}

// ---------------------------------------------------------------- the CLI

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// streamhubBinary builds cmd/streamhub once for the whole test binary.
func streamhubBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			goTool = "go"
		}
		dir, err := os.MkdirTemp("", "streamhub-deploy-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "streamhub")
		cmd := exec.Command(goTool, "build", "-o", binPath, "./cmd/streamhub")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/streamhub: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

type flagSpec struct{ takesValue bool }

var flagLine = regexp.MustCompile(`(?m)^  -([A-Za-z0-9][A-Za-z0-9_-]*)( \S+)?`)

// helpText runs `streamhub <args> -h`, which exits 0 only for a real command.
func helpText(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	out, err := exec.Command(streamhubBinary(t), append(append([]string(nil), args...), "-h")...).CombinedOutput()
	if err != nil {
		t.Errorf("streamhub %s -h: %v (not a command?)\n%s", strings.Join(args, " "), err, out)
		return string(out), false
	}
	return string(out), true
}

// helpFlags returns the flags the usage of `streamhub <args>` lists.
func helpFlags(t *testing.T, args ...string) map[string]flagSpec {
	t.Helper()
	out, ok := helpText(t, args...)
	if !ok {
		return nil
	}
	flags := map[string]flagSpec{}
	for _, m := range flagLine.FindAllStringSubmatch(out, -1) {
		flags[m[1]] = flagSpec{takesValue: m[2] != ""}
	}
	if len(flags) == 0 {
		t.Errorf("streamhub %s -h lists no flags:\n%s", strings.Join(args, " "), out)
	}
	return flags
}

// roleCommand is a streamhub service's command, checked against the CLI.
type roleCommand struct {
	sub   []string          // "bridge", or "topology", "apply"
	flags map[string]string // flag → value ("" for a boolean)
}

func parseRoleCommand(t *testing.T, name string, s service) (roleCommand, bool) {
	t.Helper()
	args := s.command()
	if len(args) == 0 {
		t.Errorf("service %s: no command: the image's default only prints help", name)
		return roleCommand{}, false
	}
	rc := roleCommand{sub: []string{args[0]}, flags: map[string]string{}}
	rest := args[1:]
	if args[0] == "topology" {
		if len(args) < 2 {
			t.Errorf("service %s: topology without a subcommand", name)
			return rc, false
		}
		usage, _ := helpText(t, "topology")
		m := regexp.MustCompile(`topology <([a-z|]+)>`).FindStringSubmatch(usage)
		if m == nil || !contains(strings.Split(m[1], "|"), args[1]) {
			t.Errorf("service %s: %q is not a topology subcommand (usage: %v)", name, args[1], m)
			return rc, false
		}
		rc.sub, rest = []string{args[0], args[1]}, args[2:]
	}
	known := helpFlags(t, rc.sub...)
	if known == nil {
		return rc, false
	}
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if !strings.HasPrefix(a, "-") {
			t.Errorf("service %s: argument %q is not a flag: streamhub %s takes none", name, a, strings.Join(rc.sub, " "))
			continue
		}
		flag, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		spec, ok := known[flag]
		if !ok {
			t.Errorf("service %s: streamhub %s has no flag -%s", name, strings.Join(rc.sub, " "), flag)
			continue
		}
		if spec.takesValue && !hasVal {
			if i+1 >= len(rest) {
				t.Errorf("service %s: -%s needs a value", name, flag)
				continue
			}
			i++
			val = rest[i]
		}
		rc.flags[flag] = val
	}
	return rc, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Every role the issue asks for runs as its own service.
func TestComposeRoles(t *testing.T) {
	c := loadCompose(t)
	count := map[string]int{}
	for _, s := range c.Services {
		if s.streamhub() && len(s.command()) > 0 {
			count[s.command()[0]]++
		}
	}
	for role, n := range map[string]int{"bridge": 1, "process": 2, "serve": 1, "collect": 1, "emit": 1} {
		if count[role] < n {
			t.Errorf("docker-compose.yml: %d streamhub %s services, want at least %d", count[role], role, n)
		}
	}
}

func TestComposeCommandsAndTopology(t *testing.T) {
	c := loadCompose(t)
	bin := streamhubBinary(t)
	validated := map[string]bool{}
	for _, name := range sortedNames(c.Services) {
		s := c.Services[name]
		if !s.streamhub() {
			continue
		}
		rc, ok := parseRoleCommand(t, name, s)
		if !ok {
			continue
		}
		file, ok := rc.flags["c"]
		if !ok {
			t.Errorf("service %s: no -c FILE", name)
			continue
		}
		host, ok := s.hostPath(file)
		if !ok {
			t.Errorf("service %s: -c %s is not inside a bind-mounted repository directory", name, file)
			continue
		}
		if _, err := os.Stat(host); err != nil {
			t.Errorf("service %s: -c %s: %v", name, file, err)
			continue
		}
		if validated[host] {
			continue
		}
		validated[host] = true
		if _, err := topology.Load(host); err != nil {
			t.Errorf("service %s: topology %s:\n%v", name, host, err)
		}
		// The same check an operator runs, through the CLI.
		out, err := exec.Command(bin, "topology", "validate", "-c", host).CombinedOutput()
		if err != nil {
			t.Errorf("streamhub topology validate -c %s: %v\n%s", host, err, out)
		}
	}
	if len(validated) == 0 {
		t.Error("no streamhub service names a topology file")
	}
}

// The compose topology refers to things other services make: the DynamoDB tables the seed
// job creates and the buckets the MinIO job creates.
func TestComposeTopologyMatchesServices(t *testing.T) {
	c := loadCompose(t)
	cfg, err := topology.Load(filepath.Join("compose", "topology.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seed, err := os.ReadFile(filepath.Join("compose", "seed.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range cfg.Sources {
		if src.Type == topology.SourceDynamoDB && !bytes.Contains(seed, []byte("--table-name "+src.Table)) {
			t.Errorf("source table %q is not created by deploy/compose/seed.sh", src.Table)
		}
	}
	mc := strings.Join(stringList(c.Services["minio-init"].Command), " ")
	for _, sink := range cfg.Sinks {
		if sink.Bucket != "" && !strings.Contains(mc, "/"+sink.Bucket) {
			t.Errorf("sink %s: bucket %q is not created by the minio-init service (%q)", sink.Name, sink.Bucket, mc)
		}
	}
}

// metricsPort is the port a long-running streamhub service serves /metrics on.
func metricsPort(t *testing.T, name string, s service, rc roleCommand) string {
	t.Helper()
	addr, ok := rc.flags["ops-listen"]
	switch rc.sub[0] {
	case "serve", "run":
		// The view API serves /metrics on its own listener and starts no ops listener.
		addr, ok = rc.flags["listen"]
		if !ok {
			host, _ := s.hostPath(rc.flags["c"])
			cfg, err := topology.Load(host)
			if err != nil {
				t.Errorf("service %s: %v", name, err)
				return ""
			}
			addr, ok = cfg.API.Listen, true
		}
	}
	if !ok {
		t.Errorf("service %s: no --ops-listen: the default 127.0.0.1:9091 cannot be scraped from another container", name)
		return ""
	}
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("service %s: metrics address %q: %v", name, addr, err)
		return ""
	}
	if ip := net.ParseIP(h); h == "localhost" || (ip != nil && ip.IsLoopback()) {
		t.Errorf("service %s: metrics on %s cannot be scraped from another container: listen on 0.0.0.0", name, addr)
	}
	return port
}

type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func TestPrometheusScrapesEveryStreamhubService(t *testing.T) {
	c := loadCompose(t)
	data, err := os.ReadFile(promConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var pc promConfig
	if err := yaml.Unmarshal(data, &pc); err != nil {
		t.Fatalf("%s: %v", promConfigPath, err)
	}
	targets := map[string]string{}
	for _, sc := range pc.ScrapeConfigs {
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("%s: job %s scrapes %s; streamhub serves /metrics", promConfigPath, sc.JobName, sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				targets[tg] = sc.JobName
				host, _, _ := net.SplitHostPort(tg)
				if _, ok := c.Services[host]; !ok && host != "localhost" {
					t.Errorf("%s: job %s scrapes %s, which is no compose service", promConfigPath, sc.JobName, tg)
				}
			}
		}
	}
	scraped := 0
	for _, name := range sortedNames(c.Services) {
		s := c.Services[name]
		if !s.streamhub() || s.oneShot() {
			continue
		}
		rc, ok := parseRoleCommand(t, name, s)
		if !ok {
			continue
		}
		port := metricsPort(t, name, s, rc)
		if port == "" {
			continue
		}
		scraped++
		if _, ok := targets[net.JoinHostPort(name, port)]; !ok {
			t.Errorf("service %s serves /metrics on port %s, but %s does not scrape %s:%s", name, port, promConfigPath, name, port)
		}
		// The healthcheck probes the same listener, so a healthy service is a scrapable one.
		hc := strings.Join(stringList(s.Healthcheck["test"]), " ")
		if !strings.Contains(hc, ":"+port+"/") {
			t.Errorf("service %s: healthcheck %q does not probe port %s", name, hc, port)
		}
	}
	if scraped < 6 {
		t.Errorf("only %d streamhub services checked; the compose file has bridge, two processors, serve, collect and emit", scraped)
	}

	prom := c.Services["prometheus"]
	for _, rf := range pc.RuleFiles {
		host, ok := prom.hostPath(rf)
		if !ok {
			t.Errorf("%s: rule file %s is not mounted into the prometheus service", promConfigPath, rf)
			continue
		}
		if _, err := os.Stat(host); err != nil {
			t.Errorf("%s: rule file %s: %v", promConfigPath, rf, err)
		}
	}
}

// docker compose (v2) or docker-compose (v1) parses the file as Compose does, without an
// engine: interpolation, merge keys, the schema.
func TestDockerComposeConfig(t *testing.T) {
	var cmd *exec.Cmd
	if docker, err := exec.LookPath("docker"); err == nil && exec.Command(docker, "compose", "version").Run() == nil {
		cmd = exec.Command(docker, "compose", "-f", "docker-compose.yml", "config", "-q")
	} else {
		dc := requireTool(t, "docker-compose", "Debian: apt-get install docker-compose; or the docker compose plugin")
		cmd = exec.Command(dc, "-f", "docker-compose.yml", "config", "-q")
	}
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
}

// ---------------------------------------------------------------- metrics, alerts, dashboard

var (
	metricDecl    = regexp.MustCompile(`Name:\s*"(streamhub_[a-z0-9_]+)"`)
	histogramDecl = regexp.MustCompile(`(?:Histogram|Summary)Opts\{\s*Name:\s*"(streamhub_[a-z0-9_]+)"`)
	metricRef     = regexp.MustCompile(`\bstreamhub_[a-z0-9_]+`)
	recordingRef  = regexp.MustCompile(`\bstreamhub:[a-zA-Z0-9_:]+`)
)

// codeMetrics collects the names the code registers, with the series names of histograms.
func codeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "testdata", "vendor", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range metricDecl.FindAllSubmatch(src, -1) {
			names[string(m[1])] = true
		}
		for _, m := range histogramDecl.FindAllSubmatch(src, -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[string(m[1])+suffix] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A broken pattern would make every reference look unknown, or none checked.
	if len(names) < 30 {
		t.Fatalf("found only %d metric names in the code: is the pattern %s still right?", len(names), metricDecl)
	}
	return names
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	data, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(data, &rf); err != nil {
		t.Fatalf("%s: %v", alertsPath, err)
	}
	return rf
}

// checkExpr reports metric names an expression uses that nothing defines.
func checkExpr(t *testing.T, where, expr string, metrics, records map[string]bool) {
	t.Helper()
	for _, m := range metricRef.FindAllString(expr, -1) {
		if !metrics[m] {
			t.Errorf("%s: %s is not a metric the code registers (expr %q)", where, m, expr)
		}
	}
	for _, r := range recordingRef.FindAllString(expr, -1) {
		if !records[r] {
			t.Errorf("%s: %s is not a recording rule of %s", where, r, alertsPath)
		}
	}
}

func TestAlertRules(t *testing.T) {
	metrics := codeMetrics(t)
	rf := loadRules(t)
	records := map[string]bool{}
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				records[r.Record] = true
			}
			if r.Alert != "" {
				alerts[r.Alert] = true
			}
		}
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			checkExpr(t, alertsPath+": "+r.Alert+r.Record, r.Expr, metrics, records)
		}
	}
	// What issue 7 asks the alerts to catch.
	for _, want := range []string{
		"StreamhubProcessorLagGrowing", "StreamhubSinkLagGrowing", // lag growing
		"StreamhubIteratorAgeHigh",                                  // iterator age high
		"StreamhubSinkFlushesFailing",                               // flushes failing
		"StreamhubDLQRateHigh",                                      // DLQ rate above normal
		"StreamhubViewNotReady",                                     // view not ready
		"StreamhubBridgeDataLoss",                                   // bridge data loss
		"StreamhubNoEventsFromTable", "StreamhubNoEventsFromSource", // no events from a source
	} {
		if !alerts[want] {
			t.Errorf("%s: no alert %s", alertsPath, want)
		}
	}

	promtool := requireTool(t, "promtool", "Debian: apt-get install prometheus, or apt-get download prometheus && dpkg -x it and put usr/bin/promtool on PATH")
	for _, args := range [][]string{
		{"check", "rules", filepath.Base(alertsPath)},
		{"test", "rules", filepath.Base(alertTestsPath)},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = filepath.Dir(alertsPath)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr       string `json:"expr"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

// Grafana's built-in variables, replaced so promtool can parse the expressions.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$table", ".*", "$sink", ".*")

func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("%s: uid and title are required for provisioning", dashboardPath)
	}

	var ds struct {
		Datasources []struct {
			UID string `yaml:"uid"`
		} `yaml:"datasources"`
	}
	dsData, err := os.ReadFile(datasourcePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(dsData, &ds); err != nil {
		t.Fatalf("%s: %v", datasourcePath, err)
	}
	uids := map[string]bool{}
	for _, x := range ds.Datasources {
		uids[x.UID] = true
	}

	metrics := codeMetrics(t)
	records := map[string]bool{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				records[r.Record] = true
			}
		}
	}
	ids := map[int]string{}
	var exprs []string
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("%s: panel %d %q", dashboardPath, p.ID, p.Title)
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("%s: id also used by %q", where, prev)
			}
			ids[p.ID] = p.Title
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || !uids[p.Datasource.UID] {
				t.Errorf("%s: datasource is not the provisioned one (%v)", where, uids)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s: empty expr", where)
					continue
				}
				checkExpr(t, where, tg.Expr, metrics, records)
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		checkExpr(t, dashboardPath+": variable "+v.Name, v.Definition, metrics, records)
	}
	if len(exprs) < 20 {
		t.Errorf("%s: only %d queries", dashboardPath, len(exprs))
	}

	// PromQL syntax: promtool parses each query as a recording rule.
	promtool := requireTool(t, "promtool", "Debian: apt-get install prometheus, or apt-get download prometheus && dpkg -x it and put usr/bin/promtool on PATH")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	type group struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	}
	g := group{Name: "dashboard"}
	for i, e := range exprs {
		g.Rules = append(g.Rules, rule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: grafanaVars.Replace(e)})
	}
	out, err := yaml.Marshal(map[string][]group{"groups": {g}})
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := exec.Command(promtool, "check", "rules", tmp).CombinedOutput(); err != nil {
		t.Errorf("dashboard queries do not parse as PromQL: %v\n%s", err, res)
	}
}

// promtool checks prometheus.yml as Prometheus loads it; the rule files are mounted at other
// paths in the container, so a copy points them at the repository's files.
func TestPrometheusConfig(t *testing.T) {
	c := loadCompose(t)
	data, err := os.ReadFile(promConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var local []any
	for _, rf := range stringList(doc["rule_files"]) {
		host, ok := c.Services["prometheus"].hostPath(rf)
		if !ok {
			t.Fatalf("rule file %s is not mounted into the prometheus service", rf)
		}
		abs, err := filepath.Abs(host)
		if err != nil {
			t.Fatal(err)
		}
		local = append(local, abs)
	}
	doc["rule_files"] = local
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool := requireTool(t, "promtool", "Debian: apt-get install prometheus, or apt-get download prometheus && dpkg -x it and put usr/bin/promtool on PATH")
	if res, err := exec.Command(promtool, "check", "config", tmp).CombinedOutput(); err != nil {
		t.Errorf("promtool check config %s: %v\n%s", promConfigPath, err, res)
	}
}

// The image has what the compose file runs in it, and the properties issue 7 asks for.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w"`, "--mount=type=cache,target=/go/pkg/mod",
		`ENTRYPOINT ["/usr/local/bin/streamhub"]`, "./cmd/streamhub-lambda"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile: no %s", want)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1) {
		if u, _, _ := strings.Cut(m[1], ":"); u == "root" || u == "0" {
			t.Errorf("Dockerfile: USER %s: the image must not run as root", m[1])
		}
	}
	c := loadCompose(t)
	for _, name := range sortedNames(c.Services) {
		s := c.Services[name]
		if !s.streamhub() || s.Healthcheck["disable"] == true {
			continue
		}
		test := stringList(s.Healthcheck["test"])
		if len(test) < 2 || test[0] != "CMD" {
			// The distroless image has no shell for CMD-SHELL.
			t.Errorf("service %s: healthcheck %q: want [\"CMD\", <binary in the image>, ...]", name, test)
			continue
		}
		if !strings.Contains(df, " "+test[1]+"\n") {
			t.Errorf("service %s: healthcheck runs %s, which the Dockerfile does not put in the image", name, test[1])
		}
	}
}

// seed.sh runs in the amazon/aws-cli image, which this machine does not have: a stand-in
// `aws` records its arguments, so the test checks the shell quoting leaves valid
// DynamoDB JSON and a table the topology can read.
func TestSeedScript(t *testing.T) {
	bash := requireTool(t, "bash", "any Linux has it")
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	fake := `#!/bin/sh
for a in "$@"; do printf '%s\0' "$a" >> "$AWS_CALLS"; done
printf '\n\0' >> "$AWS_CALLS"
case "$*" in
  *"describe-table --table-name users --query"*) echo arn:aws:dynamodb:ddblocal:000000000000:table/users/stream/2026-01-01T00:00:00.000 ;;
  "dynamodb describe-table"*) exit 255 ;;   # not there yet: the script creates it
esac
`
	if err := os.WriteFile(filepath.Join(dir, "aws"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bash, filepath.Join("compose", "seed.sh"))
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "AWS_CALLS="+log)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("seed.sh: %v\n%s", err, out)
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := topology.Load(filepath.Join("compose", "topology.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	for _, tb := range cfg.Tables {
		keys[tb.Name] = tb.Keys
	}
	var calls [][]string
	var cur []string
	for _, a := range strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00") {
		if a == "\n" {
			calls = append(calls, cur)
			cur = nil
			continue
		}
		cur = append(cur, a)
	}
	var created, puts int
	for _, call := range calls {
		joined := strings.Join(call, " ")
		if strings.Contains(joined, "create-table") {
			created++
			if !strings.Contains(joined, "StreamViewType=NEW_AND_OLD_IMAGES") {
				t.Errorf("create-table without a NEW_AND_OLD_IMAGES stream: %s", joined)
			}
		}
		table := ""
		for i := 0; i+1 < len(call); i++ {
			switch call[i] {
			case "--table-name":
				table = call[i+1]
			case "--item", "--key", "--expression-attribute-values", "--expression-attribute-names":
				var v map[string]any
				if err := json.Unmarshal([]byte(call[i+1]), &v); err != nil {
					t.Errorf("%s %s is not JSON: %v\n%s", call[1], call[i], err, call[i+1])
					continue
				}
				if call[i] == "--item" || call[i] == "--key" {
					if call[i] == "--item" {
						puts++
					}
					for _, k := range keys[table] {
						if _, ok := v[k]; !ok {
							t.Errorf("%s %s lacks key attribute %q of table %q: %s", call[1], call[i], k, table, call[i+1])
						}
					}
				}
			}
		}
		if table != "" && keys[table] == nil {
			t.Errorf("seed.sh writes table %q, which the compose topology does not have", table)
		}
	}
	if created != 1 || puts == 0 {
		t.Errorf("seed.sh: %d create-table and %d put-item calls, want 1 and some", created, puts)
	}
}
