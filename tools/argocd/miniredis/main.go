// Command miniredis is the Redis that Argo CD's components share as a cache during `gitops sync`:
// github.com/alicebob/miniredis/v2, already in Argo CD's module graph, so no system package is needed.
// It listens on the loopback address given by -addr and serves until SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alicebob/miniredis/v2"
)

// sourceHash is set at build time (-ldflags -X) to the hash of this program's sources (tools/argocd's go.mod,
// go.sum and this folder); the tooling reads it back with -version to decide whether the binary is current.
var sourceHash = "unset"

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "loopback host:port to listen on")
	version := flag.Bool("version", false, "print the source hash and exit")
	flag.Parse()
	if *version {
		fmt.Println(sourceHash)
		return
	}
	server := miniredis.NewMiniRedis()
	if err := server.StartAddr(*addr); err != nil {
		fmt.Fprintf(os.Stderr, "miniredis: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("miniredis listening on %s\n", server.Addr())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	server.Close()
}
