// Command healthcheck exits 0 when an HTTP GET of its argument answers 2xx, else 1.
//
// The streamhub image is distroless (no shell, no curl), so Docker and Compose healthchecks
// need a probe of their own: this one is static, a few MiB, and sits beside streamhub in
// the image as /usr/local/bin/healthcheck.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: healthcheck URL   (exit 0 when GET URL answers 2xx)")
		os.Exit(2)
	}
	os.Exit(probe(os.Args[1]))
}

func probe(url string) int {
	// Shorter than any sensible healthcheck timeout, so Docker sees our answer, not its kill.
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintln(os.Stderr, url+": "+resp.Status)
		return 1
	}
	return 0
}
