// Package terraform_test checks the Terraform modules and examples without an AWS account.
// Every .tf file is parsed with HCL's own parser and its structure checked (variables,
// outputs, references, module calls, the IAM actions, the event source mapping); where a
// terraform binary and a local provider mirror exist, `terraform validate` and an offline
// `terraform plan` of the example run too. The checks also run on testdata/broken, which
// must fail every one of them: a check that cannot fail proves nothing.
package terraform_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/streamhub/streamhub/sources/dynamodb/lambda"
)

// readerActions is the whole grant of the role another account's data team creates: the
// issue's least privilege, and what the bridge calls (DescribeTable for LatestStreamArn,
// ListStreams for a re-created table's older streams).
var readerActions = []string{
	"dynamodb:DescribeStream",
	"dynamodb:DescribeTable",
	"dynamodb:GetRecords",
	"dynamodb:GetShardIterator",
	"dynamodb:ListStreams",
}

// wildcardActions may be granted on resource "*": ListStreams names no stream in its
// request, so IAM cannot scope it.
var wildcardActions = []string{"dynamodb:ListStreams"}

// lambdaActions bounds the Lambda execution role's inline policy.
var lambdaActions = []string{
	"logs:CreateLogStream", "logs:PutLogEvents",
	"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams",
	"kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently",
	"kafka-cluster:DescribeTopic", "kafka-cluster:WriteData",
	"kafka-cluster:DescribeTransactionalId", "kafka-cluster:AlterTransactionalId",
	"sqs:SendMessage", "sns:Publish",
}

// requiredOutputs are what the README and the example rely on, per module directory name.
var requiredOutputs = map[string][]string{
	"dynamodb-stream-reader": {"role_arn", "role_name", "stream_arn_patterns"},
	"lambda-bridge":          {"function_arn", "role_arn", "event_source_mapping_uuid", "msk_topic_arns", "msk_transactional_id_arn"},
}

// esmAttributes must be set explicitly: their AWS defaults (bisect off but retries -1 only
// by accident, no batching window, no batch failure reporting) are not the bridge's.
var esmAttributes = []string{
	"batch_size", "maximum_batching_window_in_seconds", "bisect_batch_on_function_error",
	"maximum_retry_attempts", "starting_position", "function_response_types",
}

// moduleMeta are module-block arguments that are not the called module's variables.
var moduleMeta = []string{"source", "version", "providers", "count", "for_each", "depends_on"}

// dir is one Terraform module directory: all of its .tf files, parsed.
type dir struct {
	path  string
	files map[string]*hclsyntax.Body
}

func (d *dir) blocks(typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, name := range sortedKeys(d.files) {
		for _, b := range d.files[name].Blocks {
			if b.Type == typ {
				out = append(out, b)
			}
		}
	}
	return out
}

// block finds `typ "l0" "l1"`.
func (d *dir) block(typ string, labels ...string) *hclsyntax.Block {
	for _, b := range d.blocks(typ) {
		if slices.Equal(b.Labels, labels) {
			return b
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// loadDir parses every .tf file of one directory; diagnostics are problems.
func loadDir(path string) (*dir, []string) {
	var problems []string
	d := &dir{path: path, files: map[string]*hclsyntax.Body{}}
	names, _ := filepath.Glob(filepath.Join(path, "*.tf"))
	p := hclparse.NewParser()
	for _, name := range names {
		f, diags := p.ParseHCLFile(name)
		for _, diag := range diags {
			problems = append(problems, fmt.Sprintf("parse: %s", diag.Error()))
		}
		if diags.HasErrors() || f == nil {
			continue
		}
		d.files[filepath.Base(name)] = f.Body.(*hclsyntax.Body)
	}
	return d, problems
}

// tfDirs lists the directories under root that hold .tf files, testdata left out.
func tfDirs(t *testing.T, root string) []string {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && path != root && (e.Name() == "testdata" || strings.HasPrefix(e.Name(), ".")) {
			return filepath.SkipDir
		}
		if !e.IsDir() && strings.HasSuffix(path, ".tf") {
			seen[filepath.Dir(path)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sortedKeys(seen)
}

// literal evaluates an expression without any variables: what a static check can trust.
func literal(expr hclsyntax.Expression) (cty.Value, bool) {
	v, diags := expr.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	return v, true
}

func literalString(expr hclsyntax.Expression) (string, bool) {
	v, ok := literal(expr)
	if !ok || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// literalStrings reads a list of string literals; a conditional yields both branches, so a
// policy's action list may depend on input only between literal alternatives.
func literalStrings(expr hclsyntax.Expression) ([]string, bool) {
	if c, ok := expr.(*hclsyntax.ConditionalExpr); ok {
		a, okA := literalStrings(c.TrueResult)
		b, okB := literalStrings(c.FalseResult)
		return append(a, b...), okA && okB
	}
	v, ok := literal(expr)
	if !ok || v.IsNull() || !(v.Type().IsTupleType() || v.Type().IsListType()) {
		return nil, false
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.Type() != cty.String {
			return nil, false
		}
		out = append(out, e.AsString())
	}
	return out, true
}

// varRefs collects var.NAME references of a body, recursively.
func varRefs(body *hclsyntax.Body, into map[string]bool) {
	for _, a := range body.Attributes {
		for _, tr := range hclsyntax.Variables(a.Expr) {
			if tr.RootName() != "var" || len(tr) < 2 {
				continue
			}
			if attr, ok := tr[1].(hcl.TraverseAttr); ok {
				into[attr.Name] = true
			}
		}
	}
	for _, b := range body.Blocks {
		varRefs(b.Body, into)
	}
}

// checkVariablesAndOutputs: every variable typed, described and used; every var.X
// declared; every output described and with a value; the module's promised outputs there.
func checkVariablesAndOutputs(d *dir) []string {
	var problems []string
	declared := map[string]*hclsyntax.Block{}
	for _, v := range d.blocks("variable") {
		name := v.Labels[0]
		declared[name] = v
		if desc, ok := v.Body.Attributes["description"]; !ok {
			problems = append(problems, fmt.Sprintf("variable %q: no description", name))
		} else if s, ok := literalString(desc.Expr); !ok || strings.TrimSpace(s) == "" {
			problems = append(problems, fmt.Sprintf("variable %q: description is not a plain non-empty string", name))
		}
		if _, ok := v.Body.Attributes["type"]; !ok {
			problems = append(problems, fmt.Sprintf("variable %q: no type", name))
		}
	}
	// A variable's own validation does not count as a use.
	used := map[string]bool{}
	for _, body := range d.files {
		for _, b := range body.Blocks {
			if b.Type != "variable" {
				varRefs(b.Body, used)
			}
		}
		for _, a := range body.Attributes {
			for _, tr := range hclsyntax.Variables(a.Expr) {
				if tr.RootName() == "var" {
					used[tr[1].(hcl.TraverseAttr).Name] = true
				}
			}
		}
	}
	for _, name := range sortedKeys(used) {
		if declared[name] == nil {
			problems = append(problems, fmt.Sprintf("var.%s: referenced but not declared", name))
		}
	}
	for _, name := range sortedKeys(declared) {
		if !used[name] {
			problems = append(problems, fmt.Sprintf("variable %q: declared but never used", name))
		}
	}
	outputs := map[string]bool{}
	for _, o := range d.blocks("output") {
		outputs[o.Labels[0]] = true
		if _, ok := o.Body.Attributes["value"]; !ok {
			problems = append(problems, fmt.Sprintf("output %q: no value", o.Labels[0]))
		}
		if desc, ok := o.Body.Attributes["description"]; !ok {
			problems = append(problems, fmt.Sprintf("output %q: no description", o.Labels[0]))
		} else if s, ok := literalString(desc.Expr); !ok || strings.TrimSpace(s) == "" {
			problems = append(problems, fmt.Sprintf("output %q: description is not a plain non-empty string", o.Labels[0]))
		}
	}
	for _, want := range requiredOutputs[filepath.Base(d.path)] {
		if !outputs[want] {
			problems = append(problems, fmt.Sprintf("output %q: missing", want))
		}
	}
	return problems
}

// checkModuleCalls: every argument of a local module call is a variable of the called
// module, and every variable without a default is given.
func checkModuleCalls(d *dir) []string {
	var problems []string
	for _, m := range d.blocks("module") {
		name := m.Labels[0]
		srcAttr, ok := m.Body.Attributes["source"]
		if !ok {
			problems = append(problems, fmt.Sprintf("module %q: no source", name))
			continue
		}
		src, ok := literalString(srcAttr.Expr)
		if !ok || !(strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../")) {
			problems = append(problems, fmt.Sprintf("module %q: source %q is not a local path", name, src))
			continue
		}
		called, parseProblems := loadDir(filepath.Join(d.path, src))
		if len(called.files) == 0 {
			problems = append(problems, fmt.Sprintf("module %q: no .tf files at %s", name, src))
			continue
		}
		problems = append(problems, parseProblems...)
		vars := map[string]bool{}
		for _, v := range called.blocks("variable") {
			vars[v.Labels[0]] = true
			if _, hasDefault := v.Body.Attributes["default"]; !hasDefault {
				if _, given := m.Body.Attributes[v.Labels[0]]; !given {
					problems = append(problems, fmt.Sprintf("module %q: required variable %q not given", name, v.Labels[0]))
				}
			}
		}
		for _, arg := range sortedKeys(m.Body.Attributes) {
			if !vars[arg] && !slices.Contains(moduleMeta, arg) {
				problems = append(problems, fmt.Sprintf("module %q: argument %q is not a variable of %s", name, arg, src))
			}
		}
	}
	return problems
}

// statement is one statement of an aws_iam_policy_document, read literally.
type statement struct {
	sid               string
	actions           []string
	resources         []string
	resourcesLiteral  bool
	actionsLiteral    bool
	hasNotActions     bool
	effect            string
	conditionVars     []string
	principalTypes    []string
	fromDynamicBlocks bool
}

func policyStatements(doc *hclsyntax.Block) []statement {
	var out []statement
	read := func(body *hclsyntax.Body, dynamic bool) {
		s := statement{effect: "Allow", fromDynamicBlocks: dynamic}
		if a, ok := body.Attributes["sid"]; ok {
			s.sid, _ = literalString(a.Expr)
		}
		if a, ok := body.Attributes["effect"]; ok {
			s.effect, _ = literalString(a.Expr)
		}
		if a, ok := body.Attributes["actions"]; ok {
			s.actions, s.actionsLiteral = literalStrings(a.Expr)
		}
		if a, ok := body.Attributes["resources"]; ok {
			s.resources, s.resourcesLiteral = literalStrings(a.Expr)
		}
		_, s.hasNotActions = body.Attributes["not_actions"]
		for _, b := range body.Blocks {
			switch b.Type {
			case "condition":
				if a, ok := b.Body.Attributes["variable"]; ok {
					v, _ := literalString(a.Expr)
					s.conditionVars = append(s.conditionVars, v)
				}
			case "principals":
				if a, ok := b.Body.Attributes["type"]; ok {
					v, _ := literalString(a.Expr)
					s.principalTypes = append(s.principalTypes, v)
				}
			}
		}
		out = append(out, s)
	}
	for _, b := range doc.Body.Blocks {
		switch {
		case b.Type == "statement":
			read(b.Body, false)
		case b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == "statement":
			for _, c := range b.Body.Blocks {
				if c.Type == "content" {
					read(c.Body, true)
				}
			}
		}
	}
	return out
}

// checkPolicy bounds one policy document: Allow only, literal actions within allowed,
// exactly allowed when exact, "*" only for wildcardActions.
func checkPolicy(d *dir, docName string, allowed []string, exact bool) []string {
	doc := d.block("data", "aws_iam_policy_document", docName)
	if doc == nil {
		return []string{fmt.Sprintf("data.aws_iam_policy_document.%s: missing", docName)}
	}
	var problems []string
	granted := map[string]bool{}
	for i, s := range policyStatements(doc) {
		where := fmt.Sprintf("data.aws_iam_policy_document.%s statement %d (%s)", docName, i, s.sid)
		if exact && s.fromDynamicBlocks {
			problems = append(problems, where+": dynamic statement in a policy that must be literal")
		}
		if s.effect != "Allow" {
			problems = append(problems, fmt.Sprintf("%s: effect %q, want Allow", where, s.effect))
		}
		if s.hasNotActions {
			problems = append(problems, where+": not_actions grants everything else")
		}
		if !s.actionsLiteral {
			problems = append(problems, where+": actions are not a literal list")
			continue
		}
		for _, a := range s.actions {
			granted[a] = true
			if !slices.Contains(allowed, a) {
				problems = append(problems, fmt.Sprintf("%s: action %q is not allowed", where, a))
			}
		}
		if s.resourcesLiteral && slices.Contains(s.resources, "*") {
			for _, a := range s.actions {
				if !slices.Contains(wildcardActions, a) {
					problems = append(problems, fmt.Sprintf("%s: action %q on resource \"*\"", where, a))
				}
			}
		}
	}
	if exact {
		for _, a := range allowed {
			if !granted[a] {
				problems = append(problems, fmt.Sprintf("data.aws_iam_policy_document.%s: action %q not granted", docName, a))
			}
		}
	}
	return problems
}

// checkReaderTrust: only sts:AssumeRole, by AWS principals, under an sts:ExternalId condition.
func checkReaderTrust(d *dir) []string {
	doc := d.block("data", "aws_iam_policy_document", "trust")
	if doc == nil {
		return []string{"data.aws_iam_policy_document.trust: missing"}
	}
	var problems []string
	stmts := policyStatements(doc)
	if len(stmts) == 0 {
		problems = append(problems, "trust policy: no statement")
	}
	for i, s := range stmts {
		if !slices.Equal(s.actions, []string{"sts:AssumeRole"}) {
			problems = append(problems, fmt.Sprintf("trust statement %d: actions %v, want [sts:AssumeRole]", i, s.actions))
		}
		if !slices.Contains(s.conditionVars, "sts:ExternalId") {
			problems = append(problems, fmt.Sprintf("trust statement %d: no sts:ExternalId condition", i))
		}
		if !slices.Equal(s.principalTypes, []string{"AWS"}) {
			problems = append(problems, fmt.Sprintf("trust statement %d: principal types %v, want [AWS]", i, s.principalTypes))
		}
	}
	return problems
}

// checkLambda: the custom runtime, the handler's environment names exactly, the mapping's
// attributes and its on-failure destination.
func checkLambda(d *dir) []string {
	var problems []string
	fns := d.blocks("resource")
	var fn, esm *hclsyntax.Block
	for _, b := range fns {
		switch b.Labels[0] {
		case "aws_lambda_function":
			fn = b
		case "aws_lambda_event_source_mapping":
			esm = b
		}
	}
	if fn == nil {
		problems = append(problems, "aws_lambda_function: missing")
	} else {
		for attr, want := range map[string]string{"runtime": "provided.al2023", "handler": "bootstrap"} {
			a, ok := fn.Body.Attributes[attr]
			got := ""
			if ok {
				got, _ = literalString(a.Expr)
			}
			if got != want {
				problems = append(problems, fmt.Sprintf("aws_lambda_function.%s: %s = %q, want %q", fn.Labels[1], attr, got, want))
			}
		}
	}
	problems = append(problems, checkEnvNames(d)...)
	if esm == nil {
		return append(problems, "aws_lambda_event_source_mapping: missing")
	}
	for _, attr := range esmAttributes {
		if _, ok := esm.Body.Attributes[attr]; !ok {
			problems = append(problems, fmt.Sprintf("aws_lambda_event_source_mapping: %s not set", attr))
		}
	}
	if a, ok := esm.Body.Attributes["function_response_types"]; ok {
		if got, _ := literalStrings(a.Expr); !slices.Equal(got, []string{"ReportBatchItemFailures"}) {
			problems = append(problems, fmt.Sprintf("aws_lambda_event_source_mapping: function_response_types = %v, want [ReportBatchItemFailures]", got))
		}
	}
	onFailure := false
	for _, b := range esm.Body.Blocks {
		body := b.Body
		if b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == "destination_config" {
			for _, c := range b.Body.Blocks {
				if c.Type == "content" {
					body = c.Body
				}
			}
		} else if b.Type != "destination_config" {
			continue
		}
		for _, c := range body.Blocks {
			if _, ok := c.Body.Attributes["destination_arn"]; c.Type == "on_failure" && ok {
				onFailure = true
			}
		}
	}
	if !onFailure {
		problems = append(problems, "aws_lambda_event_source_mapping: no destination_config.on_failure.destination_arn")
	}
	return problems
}

// checkEnvNames compares local.streamhub_env's keys with the variables the handler reads,
// so a renamed or new STREAMHUB_* variable breaks this test and not a deployment.
func checkEnvNames(d *dir) []string {
	var env *hclsyntax.Attribute
	for _, l := range d.blocks("locals") {
		if a, ok := l.Body.Attributes["streamhub_env"]; ok {
			env = a
		}
	}
	if env == nil {
		return []string{"local.streamhub_env: missing"}
	}
	obj, ok := env.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return []string{"local.streamhub_env: not an object constructor"}
	}
	var problems []string
	set := map[string]bool{}
	for _, item := range obj.Items {
		key := hcl.ExprAsKeyword(item.KeyExpr)
		if key == "" {
			key, _ = literalString(item.KeyExpr)
		}
		set[key] = true
	}
	var want []string
	for _, v := range lambda.EnvVars {
		want = append(want, v.Name)
		if !set[v.Name] {
			problems = append(problems, fmt.Sprintf("local.streamhub_env: %s (read by the handler) not settable", v.Name))
		}
	}
	for _, k := range sortedKeys(set) {
		if !slices.Contains(want, k) {
			problems = append(problems, fmt.Sprintf("local.streamhub_env: %s is not a variable the handler reads", k))
		}
	}
	return problems
}

// checkTree runs every check on every module directory under root.
func checkTree(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, path := range tfDirs(t, root) {
		rel, _ := filepath.Rel(root, path)
		d, problems := loadDir(path)
		problems = append(problems, checkVariablesAndOutputs(d)...)
		problems = append(problems, checkModuleCalls(d)...)
		switch filepath.Base(path) {
		case "dynamodb-stream-reader":
			problems = append(problems, checkPolicy(d, "read", readerActions, true)...)
			problems = append(problems, checkReaderTrust(d)...)
		case "lambda-bridge":
			problems = append(problems, checkPolicy(d, "function", lambdaActions, false)...)
			problems = append(problems, checkLambda(d)...)
		}
		out[filepath.ToSlash(rel)] = problems
	}
	return out
}

func TestModules(t *testing.T) {
	results := checkTree(t, ".")
	for _, want := range []string{"modules/dynamodb-stream-reader", "modules/lambda-bridge", "examples/cross-account"} {
		if _, ok := results[want]; !ok {
			t.Errorf("%s: no .tf files found", want)
		}
	}
	for _, rel := range sortedKeys(results) {
		t.Run(rel, func(t *testing.T) {
			for _, p := range results[rel] {
				t.Error(p)
			}
		})
	}
}

// TestBrokenFixture proves each check can fail: testdata/broken repeats the layout with one
// mistake per check.
func TestBrokenFixture(t *testing.T) {
	results := checkTree(t, filepath.Join("testdata", "broken"))
	cases := []struct{ dir, problem string }{
		{"modules/dynamodb-stream-reader", `variable "role_name": no description`},
		{"modules/dynamodb-stream-reader", `variable "tags": no type`},
		{"modules/dynamodb-stream-reader", `variable "unused": declared but never used`},
		{"modules/dynamodb-stream-reader", `var.table_nmae: referenced but not declared`},
		{"modules/dynamodb-stream-reader", `output "stream_arn_patterns": missing`},
		{"modules/dynamodb-stream-reader", `output "role_name": no description`},
		{"modules/dynamodb-stream-reader", `action "dynamodb:GetItem" is not allowed`},
		{"modules/dynamodb-stream-reader", `action "dynamodb:DescribeStream" on resource "*"`},
		{"modules/dynamodb-stream-reader", `action "dynamodb:DescribeTable" not granted`},
		{"modules/dynamodb-stream-reader", `actions are not a literal list`},
		{"modules/dynamodb-stream-reader", `trust statement 0: no sts:ExternalId condition`},
		{"modules/lambda-bridge", `runtime = "go1.x", want "provided.al2023"`},
		{"modules/lambda-bridge", `STREAMHUB_TOPIC (read by the handler) not settable`},
		{"modules/lambda-bridge", `STREAMHUB_BROKER is not a variable the handler reads`},
		{"modules/lambda-bridge", `bisect_batch_on_function_error not set`},
		{"modules/lambda-bridge", `function_response_types = [], want [ReportBatchItemFailures]`},
		{"modules/lambda-bridge", `no destination_config.on_failure.destination_arn`},
		{"modules/lambda-bridge", `action "dynamodb:*" is not allowed`},
		{"examples/example", `module "reader": required variable "external_id" not given`},
		{"examples/example", `module "reader": argument "table_name" is not a variable`},
		{"examples/example", `description is not a plain non-empty string`},
		{"syntax", `parse: `},
	}
	for _, c := range cases {
		t.Run(c.dir+": "+c.problem, func(t *testing.T) {
			found := slices.ContainsFunc(results[c.dir], func(p string) bool { return strings.Contains(p, c.problem) })
			if !found {
				t.Errorf("want a problem containing %q, got:\n  %s", c.problem, strings.Join(results[c.dir], "\n  "))
			}
		})
	}
}

// --- With a terraform binary: the real parser, type checker and planner. ---

// terraformEnv finds terraform and a provider mirror with hashicorp/aws, or skips: no
// provider can be downloaded where the tests run. STREAMHUB_TF_PLUGIN_DIR names the mirror
// (default /opt/tf-plugins, a filesystem mirror laid out as HOST/NAMESPACE/TYPE/VERSION/OS_ARCH).
func terraformEnv(t *testing.T) (bin string, env []string) {
	t.Helper()
	// Missing, these skip loudly on a laptop and fail in CI, whose machines carry both.
	skip := func(msg string) {
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: this machine image ships /usr/local/bin/terraform and /opt/tf-plugins)")
		}
		t.Skip("SKIPPING LOUDLY: " + msg)
	}
	bin, err := exec.LookPath("terraform")
	if err != nil {
		skip("no terraform binary on PATH: the HCL checks above are all that runs")
	}
	mirror := os.Getenv("STREAMHUB_TF_PLUGIN_DIR")
	if mirror == "" {
		mirror = "/opt/tf-plugins"
	}
	if _, err := os.Stat(filepath.Join(mirror, "registry.terraform.io", "hashicorp", "aws")); err != nil {
		skip(fmt.Sprintf("no hashicorp/aws provider in the mirror %s (set STREAMHUB_TF_PLUGIN_DIR): validate and plan need it", mirror))
	}
	cfg := filepath.Join(t.TempDir(), "terraformrc")
	rc := fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/*"]
  }
}
`, mirror)
	if err := os.WriteFile(cfg, []byte(rc), 0o644); err != nil {
		t.Fatal(err)
	}
	env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+cfg, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1",
		"TF_PLUGIN_CACHE_DIR=", "AWS_EC2_METADATA_DISABLED=true")
	return bin, env
}

// copyTree copies deploy/terraform (testdata left out) so init's .terraform never lands in
// the work tree and the relative module sources still resolve.
func copyTree(t *testing.T, dst string) {
	t.Helper()
	err := filepath.WalkDir(".", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && path != "." && (e.Name() == "testdata" || strings.HasPrefix(e.Name(), ".")) {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, path)
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !strings.HasSuffix(path, ".tf") && !strings.HasSuffix(path, ".example") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, bin string, env []string, dir string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), fmt.Errorf("terraform %s in %s: %v\n%s%s", strings.Join(args, " "), dir, err, out.String(), errb.String())
	}
	return out.Bytes(), nil
}

func TestTerraformValidate(t *testing.T) {
	bin, env := terraformEnv(t)
	if _, err := run(t, bin, env, ".", "fmt", "-check", "-recursive", "-diff", "modules"); err != nil {
		t.Errorf("terraform fmt: %v", err)
	}
	if _, err := run(t, bin, env, ".", "fmt", "-check", "-recursive", "-diff", "examples"); err != nil {
		t.Errorf("terraform fmt: %v", err)
	}
	tmp := t.TempDir()
	copyTree(t, tmp)
	for _, rel := range []string{"modules/dynamodb-stream-reader", "modules/lambda-bridge", "examples/cross-account"} {
		t.Run(rel, func(t *testing.T) {
			d := filepath.Join(tmp, rel)
			if _, err := run(t, bin, env, d, "init", "-backend=false", "-input=false", "-no-color"); err != nil {
				t.Fatal(err)
			}
			if _, err := run(t, bin, env, d, "validate", "-no-color"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// offlineProviders lets the AWS provider plan without credentials or network: nothing in
// these configurations reads AWS at plan time (policy documents are computed locally).
const offlineProviders = `
provider "aws" {
  alias                       = "table_owner"
  region                      = var.region
  access_key                  = "AKIAOFFLINEPLAN00000"
  secret_key                  = "offline"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

provider "aws" {
  alias                       = "hub"
  region                      = var.region
  access_key                  = "AKIAOFFLINEPLAN00000"
  secret_key                  = "offline"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}
`

type plan struct {
	ResourceChanges []struct {
		Address string `json:"address"`
		Type    string `json:"type"`
		Change  struct {
			After map[string]any `json:"after"`
		} `json:"change"`
	} `json:"resource_changes"`
}

func (p *plan) after(address string) map[string]any {
	for _, rc := range p.ResourceChanges {
		if rc.Address == address {
			return rc.Change.After
		}
	}
	return nil
}

// TestTerraformPlan plans the example with terraform.tfvars.example: every module is
// expanded with real values, the providers' schemas check every attribute, and the
// planned reader policy is the JSON IAM will receive.
func TestTerraformPlan(t *testing.T) {
	bin, env := terraformEnv(t)
	tmp := t.TempDir()
	copyTree(t, tmp)
	d := filepath.Join(tmp, "examples", "cross-account")
	tfvars, err := os.ReadFile(filepath.Join(d, "terraform.tfvars.example"))
	if err != nil {
		t.Fatal(err)
	}
	// The profiles would make the provider look for ~/.aws; the override's keys replace them.
	var kept []string
	for _, line := range strings.Split(string(tfvars), "\n") {
		if !strings.Contains(line, "_profile") {
			kept = append(kept, line)
		}
	}
	kept = append(kept, "manage_msk_cluster_policy = true")
	files := map[string]string{
		"terraform.tfvars":     strings.Join(kept, "\n"),
		"offline_override.tf":  offlineProviders,
		"streamhub-lambda.zip": "not a zip: only its hash is planned",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env = append(env, "TF_VAR_external_id=streamhub-7f3a9c")
	if _, err := run(t, bin, env, d, "init", "-backend=false", "-input=false", "-no-color"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, bin, env, d, "plan", "-refresh=false", "-input=false", "-no-color", "-lock=false", "-out=plan.bin"); err != nil {
		t.Fatal(err)
	}
	raw, err := run(t, bin, env, d, "show", "-json", "plan.bin")
	if err != nil {
		t.Fatal(err)
	}
	var p plan
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}

	// The modules' own guards, which only terraform evaluates: a bad external ID and a
	// function without a package must stop the plan.
	refusals := []struct {
		name, want string
		args       []string
	}{
		{"external id", "external_id must be 2 to 1224 characters", []string{"-var", "external_id=has spaces"}},
		{"no package", "Set either package_file or both s3_bucket and s3_key", []string{"-var-file=nopackage.tfvars"}},
		{"bad stream arn", "stream_arn must be", []string{"-var", "lambda_stream_arn=arn:aws:dynamodb:eu-west-1:111111111111:table/orders"}},
	}
	if err := os.WriteFile(filepath.Join(d, "nopackage.tfvars"), []byte("lambda_package_file = null\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, r := range refusals {
		t.Run("refuses "+r.name, func(t *testing.T) {
			args := append([]string{"plan", "-refresh=false", "-input=false", "-no-color", "-lock=false"}, r.args...)
			_, err := run(t, bin, env, d, args...)
			if err == nil {
				t.Fatalf("plan with %v succeeded", r.args)
			}
			if !strings.Contains(strings.Join(strings.Fields(err.Error()), " "), r.want) {
				t.Errorf("plan with %v failed without %q: %v", r.args, r.want, err)
			}
		})
	}

	t.Run("reader policy", func(t *testing.T) {
		after := p.after("module.reader.aws_iam_role_policy.read")
		doc, _ := after["policy"].(string)
		var policy struct {
			Statement []struct {
				Effect   string
				Action   any
				Resource any
			}
		}
		if err := json.Unmarshal([]byte(doc), &policy); err != nil {
			t.Fatalf("planned policy %q: %v", doc, err)
		}
		var actions []string
		for _, s := range policy.Statement {
			acts, res := strs(s.Action), strs(s.Resource)
			actions = append(actions, acts...)
			for _, r := range res {
				switch {
				case r == "*":
					if !slices.Equal(acts, wildcardActions) {
						t.Errorf("actions %v on resource *", acts)
					}
				case r != "arn:aws:dynamodb:eu-west-1:111111111111:table/users" &&
					r != "arn:aws:dynamodb:eu-west-1:111111111111:table/users/stream/*":
					t.Errorf("resource %q is neither the table nor its streams", r)
				}
			}
		}
		sort.Strings(actions)
		if !slices.Equal(actions, readerActions) {
			t.Errorf("planned actions %v, want %v", actions, readerActions)
		}
	})

	t.Run("event source mapping", func(t *testing.T) {
		esm := p.after("module.lambda_bridge.aws_lambda_event_source_mapping.stream")
		want := map[string]any{
			"batch_size": 1000.0, "maximum_batching_window_in_seconds": 1.0,
			"bisect_batch_on_function_error": false, "maximum_retry_attempts": -1.0,
			"starting_position": "TRIM_HORIZON",
		}
		for k, v := range want {
			if esm[k] != v {
				t.Errorf("%s = %v, want %v", k, esm[k], v)
			}
		}
		if got := strs(esm["function_response_types"]); !slices.Equal(got, []string{"ReportBatchItemFailures"}) {
			t.Errorf("function_response_types = %v", got)
		}
		if s := fmt.Sprint(esm["destination_config"]); !strings.Contains(s, "arn:aws:sqs:eu-west-1:111111111111:streamhub-orders-discarded") {
			t.Errorf("destination_config = %s, want the on-failure queue", s)
		}
	})

	t.Run("function", func(t *testing.T) {
		fn := p.after("module.lambda_bridge.aws_lambda_function.bridge")
		if fn["runtime"] != "provided.al2023" || fn["handler"] != "bootstrap" {
			t.Errorf("runtime %v, handler %v", fn["runtime"], fn["handler"])
		}
		envBlocks, _ := fn["environment"].([]any)
		if len(envBlocks) != 1 {
			t.Fatalf("environment = %v", fn["environment"])
		}
		vars, _ := envBlocks[0].(map[string]any)["variables"].(map[string]any)
		want := map[string]string{
			"STREAMHUB_BROKERS":                 "b-1.hub-msk.abc123.c2.kafka.eu-west-1.amazonaws.com:9098",
			"STREAMHUB_TOPIC":                   "prod.orders.cdc",
			"STREAMHUB_KEYS":                    "pk,sk",
			"STREAMHUB_TABLE":                   "orders",
			"STREAMHUB_DLQ_TOPIC":               "prod.streamhub.dlq",
			"STREAMHUB_SASL_MECHANISM":          "AWS_MSK_IAM",
			"STREAMHUB_SASL_REGION":             "eu-west-1",
			"STREAMHUB_TRANSACTIONAL_ID_PREFIX": "streamhub-lambda-streamhub-orders",
		}
		for k, v := range want {
			if vars[k] != v {
				t.Errorf("%s = %v, want %q", k, vars[k], v)
			}
		}
		if len(vars) != len(want) {
			t.Errorf("environment %v, want exactly %v (unset variables keep the handler's defaults)", vars, want)
		}
		// Planning the handler's own configuration check on these values catches a name
		// or format the module gets wrong and the HCL checks cannot see.
		cfgEnv := map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "streamhub-orders", "AWS_REGION": "eu-west-1"}
		for k, v := range vars {
			cfgEnv[k] = fmt.Sprint(v)
		}
		if _, err := lambda.ConfigFromEnv(func(k string) string { return cfgEnv[k] }); err != nil {
			t.Errorf("the handler refuses the planned environment: %v", err)
		}
	})
}

func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		sort.Strings(out)
		return out
	}
	return nil
}
