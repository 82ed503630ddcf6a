package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	ddblambda "github.com/streamhub/streamhub/sources/dynamodb/lambda"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func noStart(t *testing.T) func(*ddblambda.Handler) {
	return func(*ddblambda.Handler) { t.Fatal("the runtime must not start") }
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		var out, errOut bytes.Buffer
		if code := run([]string{arg}, env(nil), &out, &errOut, noStart(t)); code != 0 {
			t.Fatalf("%s: exit %d, stderr %s", arg, code, errOut.String())
		}
		for _, v := range ddblambda.EnvVars {
			if !strings.Contains(out.String(), v.Name) {
				t.Errorf("%s: help lacks %s:\n%s", arg, v.Name, out.String())
			}
		}
	}
}

func TestBadArgument(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--brokers=x"}, env(nil), &out, &errOut, noStart(t)); code != 2 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errOut.String(), "--brokers=x") || !strings.Contains(errOut.String(), "STREAMHUB_BROKERS") {
		t.Errorf("stderr:\n%s", errOut.String())
	}
}

func TestOutsideLambda(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(nil, env(nil), &out, &errOut, noStart(t)); code != 2 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errOut.String(), "AWS_LAMBDA_RUNTIME_API") {
		t.Errorf("stderr:\n%s", errOut.String())
	}
}

func TestBadConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	e := map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", ddblambda.EnvTopic: "t", ddblambda.EnvKeys: "Id",
		ddblambda.EnvSASLMechanism: "PLAIN", ddblambda.EnvSASLUsername: "u", ddblambda.EnvSASLPassword: "s3cret-pw"}
	if code := run(nil, env(e), &out, &errOut, noStart(t)); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errOut.String(), ddblambda.EnvBrokers) || strings.Contains(errOut.String(), "s3cret-pw") {
		t.Errorf("stderr:\n%s", errOut.String())
	}
}

func TestStarts(t *testing.T) {
	var out, errOut bytes.Buffer
	e := map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", ddblambda.EnvBrokers: "127.0.0.1:1",
		ddblambda.EnvTopic: "t", ddblambda.EnvKeys: "Id"}
	started := false
	run(nil, env(e), &out, &errOut, func(h *ddblambda.Handler) { started = h != nil })
	if !started {
		t.Fatalf("the runtime was not started; stderr:\n%s", errOut.String())
	}
}

// The README documents every variable.
func TestReadmeDocumentsEnv(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range ddblambda.EnvVars {
		if !strings.Contains(string(b), "`"+v.Name+"`") {
			t.Errorf("README.md lacks `%s`", v.Name)
		}
	}
}
