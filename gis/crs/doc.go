// Package crs converts points between the three coordinate systems that
// reach a Chinese city platform: WGS-84 (GPS), GCJ-02 (高德, 腾讯) and BD-09
// (百度). Near 泰州 WGS-84 → GCJ-02 moves a point by about 510 m and GCJ-02 →
// BD-09 by about 920 m more, so every point must be converted on ingest.
//
// Points are orb.Point, [lon, lat] in degrees. The forward GCJ-02 transform
// is the well-known public one (as in eviltransform, BSD-2); it is the
// identity outside a rough bounding box of China. The inverses have no
// closed form and are computed by iteration, accurate to far below 0.5 m.
// All functions are pure and safe for concurrent use.
package crs
