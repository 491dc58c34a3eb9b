//go:build !linux

package testpg

import "fmt"

// startLocal starts no cluster here: only Linux can tie the cluster's life to the test
// binary's (a parent-death signal), and a cluster must never outlive its tests.
func startLocal() (string, error) {
	return "", fmt.Errorf("%w: %s is not set, and a throwaway cluster is started only on Linux", errUnavailable, EnvVar)
}

// stopLocal has no cluster to stop.
func stopLocal() {}
