package utp_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/btfs/btfs/swarm/utp"
)

// Two Muxes on loopback: one accepts, the other dials, and a message goes
// across. In a client, Other() would carry the DHT on the same socket.
func ExampleMux() {
	listen := func() *utp.Mux {
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			panic(err)
		}
		return utp.NewMux(pc, utp.Config{})
	}
	server, client := listen(), listen()
	defer server.Close()
	defer client.Close()

	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := server.Socket().Accept()
		if err != nil {
			return
		}
		defer c.Close()
		msg, _ := io.ReadAll(c)
		fmt.Printf("server got %q\n", msg)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr := server.Socket().Addr().(*net.UDPAddr).AddrPort()
	c, err := client.Socket().Dial(ctx, addr)
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	c.Write([]byte("hello over uTP"))
	c.Close() // sends a FIN: the server reads EOF
	<-done
	// Output: server got "hello over uTP"
}
