package flv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// amfNum is an AMF0 number value.
func amfNum(v float64) []byte {
	b := []byte{amf0Number, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(b[1:], math.Float64bits(v))
	return b
}

// amfKey is an AMF0 property name.
func amfKey(k string) []byte { return cat(0, len(k), k) }

// amfStr is an AMF0 string value.
func amfStr(s string) []byte { return cat(amf0String, 0, len(s), s) }

// firstScriptTag returns the body of the first script tag of an FLV file.
func firstScriptTag(t *testing.T, file []byte) []byte {
	t.Helper()
	r := NewReader(bytes.NewReader(file))
	_, err := r.ReadHeader()
	require.NoError(t, err)
	for {
		tag, err := r.ReadTag()
		require.NoError(t, err)
		if tag.Type == TagScript {
			return bytes.Clone(tag.Data)
		}
	}
}

func TestParseMetadataFromFFmpeg(t *testing.T) {
	m, err := ParseMetadata(firstScriptTag(t, fixture(t, "avc_aac_160x120.flv")))
	require.NoError(t, err)
	num := func(k string) float64 {
		v, ok := m.Number(k)
		require.True(t, ok, k)
		return v
	}
	require.Equal(t, 160.0, num("width"))
	require.Equal(t, 120.0, num("height"))
	require.Equal(t, 15.0, num("framerate"))
	require.Equal(t, 7.0, num("videocodecid"))
	require.Equal(t, 10.0, num("audiocodecid"))
	require.Equal(t, 22050.0, num("audiosamplerate"))
	stereo, ok := m.Bool("stereo")
	require.True(t, ok)
	require.False(t, stereo)
	enc, ok := m.String("encoder")
	require.True(t, ok)
	require.Equal(t, "Lavf59.27.100", enc)
	_, ok = m.String("width")
	require.False(t, ok, "a number is not a string")
}

func TestParseMetadata(t *testing.T) {
	name := amfStr("onMetaData")
	for _, tc := range []struct {
		name string
		body []byte
		want Metadata
		err  error
	}{
		{"object form", cat(name, amf0Object, amfKey("width"), amfNum(640), amfKey("encoder"), amfStr("obs"), 0, 0, amf0ObjectEnd),
			Metadata{"width": 640.0, "encoder": "obs"}, nil},
		{"no end marker", cat(name, amf0ECMAArray, 0, 0, 0, 1, amfKey("height"), amfNum(360)),
			Metadata{"height": 360.0}, nil},
		{"nested values skipped", cat(name, amf0ECMAArray, 0, 0, 0, 4,
			amfKey("keyframes"), amf0Object, amfKey("times"), amf0StrictArray, 0, 0, 0, 2, amfNum(0), amfNum(1), 0, 0, amf0ObjectEnd,
			amfKey("date"), amf0Date, make([]byte, 10),
			amfKey("none"), amf0Null,
			amfKey("long"), amf0LongString, 0, 0, 0, 2, "ab",
			amfKey("fps"), amfNum(30), 0, 0, amf0ObjectEnd),
			Metadata{"long": "ab", "fps": 30.0}, nil},
		{"other script data", cat(amfStr("onTextData"), amf0Object), nil, ErrUnsupported},
		{"no name", cat(amf0Number), nil, ErrMalformed},
		{"no properties", cat(name, amf0Number), Metadata{}, ErrMalformed},
		{"truncated value", cat(name, amf0ECMAArray, 0, 0, 0, 1, amfKey("width"), amf0Number, 0, 0), Metadata{}, ErrShortPayload},
		{"long string beyond the body", cat(name, amf0Object, amfKey("x"), amf0LongString, 0xff, 0xff, 0xff, 0xff), Metadata{}, ErrShortPayload},
		{"unknown type", cat(name, amf0Object, amfKey("x"), 0x0d), Metadata{}, ErrUnsupported},
		{"too deep", cat(name, amf0Object, amfKey("a"), amf0Object, amfKey("b"), amf0Object, amfKey("c"), amf0Object,
			amfKey("d"), amf0Object, amfKey("e"), amf0Object), Metadata{}, ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMetadata(tc.body)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.want, m)
		})
	}
}

func TestParseMetadataBounds(t *testing.T) {
	body := cat(amfStr("onMetaData"), amf0Object)
	for i := range maxMetaProps + 10 {
		body = append(body, amfKey(string(rune('a'+i%26))+string(rune('a'+i/26)))...)
		body = append(body, amfNum(float64(i))...)
	}
	body = append(body, amfKey("big")...)
	body = append(body, cat(amf0String, 0x10, 0, bytes.Repeat([]byte("x"), 0x1000))...)
	body = append(body, 0, 0, amf0ObjectEnd)
	m, err := ParseMetadata(body)
	require.NoError(t, err)
	require.Len(t, m, maxMetaProps)
}

func FuzzParseMetadata(f *testing.F) {
	f.Add(cat(amfStr("onMetaData"), amf0ECMAArray, 0, 0, 0, 1, amfKey("width"), amfNum(640), 0, 0, amf0ObjectEnd))
	f.Add(cat(amfStr("onMetaData"), amf0Object, amfKey("a"), amf0StrictArray, 0, 0, 0, 1, amf0Object, 0, 0, amf0ObjectEnd))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMetadata(b)
		if err != nil && !isSentinel(err) && !errors.Is(err, errAMFShort) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if len(m) > maxMetaProps {
			t.Fatalf("%d properties kept", len(m))
		}
		for k, v := range m {
			switch v := v.(type) {
			case float64, bool:
			case string:
				if len(v) > maxMetaStr {
					t.Fatalf("%s: string of %d bytes", k, len(v))
				}
			default:
				t.Fatalf("%s: value of type %T", k, v)
			}
		}
	})
}
