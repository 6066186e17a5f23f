module github.com/btfs/btfs

go 1.26.0

require (
	bazil.org/fuse v0.0.0-20230120002735-62a210ff1fd5
	github.com/hashicorp/golang-lru/v2 v2.0.7
	github.com/zeebo/bencode v1.0.0
	go.uber.org/goleak v1.3.0
	golang.org/x/time v0.16.0
)

require golang.org/x/sys v0.49.0
