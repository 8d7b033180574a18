//go:build !linux

package main

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/gorilla/websocket"
)

type loops struct{}

func newLoops(int, *atomic.Pointer[hist], <-chan struct{}, *sync.WaitGroup) (*loops, error) {
	return nil, errors.New("-reader epoll needs Linux: use -reader gorilla")
}

func (*loops) add(*bclient, *websocket.Conn) error { return nil }
