// Package codecs contains codec definitions.
package codecs

// Codec is a codec.
type Codec interface {
	isCodec()
}
