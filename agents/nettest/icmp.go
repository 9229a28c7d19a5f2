package nettest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// errNoICMP means this process may not send ICMP echo requests: neither
// a raw nor a datagram ICMP socket could be opened.
var errNoICMP = errors.New("ICMP sockets are not allowed for this process")

// icmpConn opens an ICMP socket for ip's family: raw first, then the
// unprivileged datagram kind. raw says which one it is.
func icmpConn(ip net.IP) (c *icmp.PacketConn, raw bool, err error) {
	rawNet, dgramNet, any := "ip4:icmp", "udp4", "0.0.0.0"
	if ip.To4() == nil {
		rawNet, dgramNet, any = "ip6:ipv6-icmp", "udp6", "::"
	}
	if c, err = icmp.ListenPacket(rawNet, any); err == nil {
		return c, true, nil
	}
	if !denied(err) {
		return nil, false, fmt.Errorf("open an ICMP socket: %w", err)
	}
	if c, err = icmp.ListenPacket(dgramNet, any); err == nil {
		return c, false, nil
	}
	if denied(err) || errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.EAFNOSUPPORT) {
		return nil, false, fmt.Errorf("%w: %v", errNoICMP, err)
	}
	return nil, false, fmt.Errorf("open an ICMP datagram socket: %w", err)
}

func denied(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES)
}

// pingICMP sends one echo request to ip and waits for its reply until
// ctx ends. The error wraps errNoICMP when ICMP cannot be used at all.
func pingICMP(ctx context.Context, ip net.IP) (time.Duration, error) {
	c, raw, err := icmpConn(ip)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var typ, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	proto := 1
	if ip.To4() == nil {
		typ, replyType, proto = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return 0, fmt.Errorf("random echo id: %w", err)
	}
	id, seq := int(binary.BigEndian.Uint16(rnd[:2])), int(binary.BigEndian.Uint16(rnd[2:]))
	payload := append([]byte("tutti-nettest"), rnd[:]...)
	msg, err := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: payload}}).Marshal(nil)
	if err != nil {
		return 0, fmt.Errorf("build the echo request: %w", err)
	}
	var dst net.Addr = &net.IPAddr{IP: ip}
	if !raw {
		dst = &net.UDPAddr{IP: ip}
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	start := time.Now()
	if _, err := c.WriteTo(msg, dst); err != nil {
		return 0, fmt.Errorf("send the echo request: %w", err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			if isTimeout(err) || ctx.Err() != nil {
				return 0, fmt.Errorf("no reply within the timeout")
			}
			return 0, fmt.Errorf("read the reply: %w", err)
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != replyType || !sameIP(from, ip) {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		// a datagram socket's kernel picks the id, so only raw checks it
		if !ok || echo.Seq != seq || (raw && echo.ID != id) || string(echo.Data) != string(payload) {
			continue
		}
		return time.Since(start), nil
	}
}

func sameIP(a net.Addr, ip net.IP) bool {
	switch a := a.(type) {
	case *net.IPAddr:
		return a.IP.Equal(ip)
	case *net.UDPAddr:
		return a.IP.Equal(ip)
	}
	return false
}
