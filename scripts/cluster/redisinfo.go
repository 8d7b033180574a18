package cluster

import (
	"context"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisCPU is a Redis server's user + system CPU time in seconds, from
// INFO cpu (the whole server process, wherever it runs); 0 when it cannot
// be read.
func RedisCPU(ctx context.Context, rdb redis.UniversalClient) float64 {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	u, _ := strconv.ParseFloat(InfoField(info, "used_cpu_user"), 64)
	s, _ := strconv.ParseFloat(InfoField(info, "used_cpu_sys"), 64)
	return u + s
}

// InfoField is the value of key in an INFO reply, "?" when it has none.
func InfoField(info, key string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+":"); ok {
			return v
		}
	}
	return "?"
}
