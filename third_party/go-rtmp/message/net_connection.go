//
// Copyright (c) 2018- yutopp (yutopp@gmail.com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at  https://www.boost.org/LICENSE_1_0.txt)
//

package message

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"

	"github.com/mitchellh/mapstructure"
	"github.com/pkg/errors"
	"github.com/yutopp/go-amf0"
)

type NetConnectionConnectCode string

const (
	NetConnectionConnectCodeSuccess NetConnectionConnectCode = "NetConnection.Connect.Success"
	NetConnectionConnectCodeFailed  NetConnectionConnectCode = "NetConnection.Connect.Failed"
	NetConnectionConnectCodeClosed  NetConnectionConnectCode = "NetConnection.Connect.Closed"
)

type NetConnectionConnect struct {
	Command NetConnectionConnectCommand
}

type NetConnectionConnectCommand struct {
	App            string       `mapstructure:"app" amf0:"app"`
	Type           string       `mapstructure:"type" amf0:"type"`
	FlashVer       string       `mapstructure:"flashVer" amf0:"flashVer"`
	TCURL          string       `mapstructure:"tcUrl" amf0:"tcUrl"`
	Fpad           bool         `mapstructure:"fpad" amf0:"fpad"`
	Capabilities   int          `mapstructure:"capabilities" amf0:"capabilities"`
	AudioCodecs    int          `mapstructure:"audioCodecs" amf0:"audioCodecs"`
	VideoCodecs    int          `mapstructure:"videoCodecs" amf0:"videoCodecs"`
	VideoFunction  int          `mapstructure:"videoFunction" amf0:"videoFunction"`
	ObjectEncoding EncodingType `mapstructure:"objectEncoding" amf0:"objectEncoding"`
}

func (t *NetConnectionConnect) FromArgs(args ...interface{}) error {
	command := args[0].(map[string]interface{})
	if err := mapstructure.Decode(command, &t.Command); err != nil {
		return errors.Wrapf(err, "Failed to mapping NetConnectionConnect")
	}

	return nil
}

func (t *NetConnectionConnect) ToArgs(ty EncodingType) ([]interface{}, error) {
	return []interface{}{
		t.Command,
	}, nil
}

type NetConnectionConnectResult struct {
	Properties  NetConnectionConnectResultProperties
	Information NetConnectionConnectResultInformation
	// InformationExtra holds more properties of the information object
	// (headwater patch 13), such as enhanced RTMP's fourCcList. ToArgs
	// writes them after level, code, description and data, in key order,
	// and never lets them replace those four; FromArgs collects every
	// property of the information object that is not one of the four.
	InformationExtra map[string]interface{}
}

// informationKeys are the information object's properties that
// NetConnectionConnectResultInformation holds.
var informationKeys = map[string]bool{"level": true, "code": true, "description": true, "data": true}

type NetConnectionConnectResultProperties struct {
	FMSVer       string `mapstructure:"fmsVer" amf0:"fmsVer"`             // TODO: fix
	Capabilities int    `mapstructure:"capabilities" amf0:"capabilities"` // TODO: fix
	Mode         int    `mapstructure:"mode" amf0:"mode"`                 // TODO: fix
}

type NetConnectionConnectResultInformation struct {
	Level       string                   `mapstructure:"level" amf0:"level"` // TODO: fix
	Code        NetConnectionConnectCode `mapstructure:"code" amf0:"code"`
	Description string                   `mapstructure:"description" amf0:"description"`
	Data        amf0.ECMAArray           `mapstructure:"data" amf0:"data"`
}

func (t *NetConnectionConnectResult) FromArgs(args ...interface{}) error {
	properties := args[0].(map[string]interface{})
	if err := mapstructure.Decode(properties, &t.Properties); err != nil {
		return errors.Wrapf(err, "Failed to mapping NetConnectionConnectResultProperties")
	}

	information := args[1].(map[string]interface{})
	if err := mapstructure.Decode(information, &t.Information); err != nil {
		return errors.Wrapf(err, "Failed to mapping NetConnectionConnectResultInformation")
	}
	for k, v := range information {
		if !informationKeys[k] {
			if t.InformationExtra == nil {
				t.InformationExtra = make(map[string]interface{})
			}
			t.InformationExtra[k] = v
		}
	}

	return nil
}

func (t *NetConnectionConnectResult) ToArgs(ty EncodingType) ([]interface{}, error) {
	return []interface{}{
		t.Properties,
		t.informationArg(),
	}, nil
}

// informationArg is the information object to encode: Information itself,
// or, with InformationExtra, a struct made for the purpose whose fields are
// Information's followed by the extra properties in key order (the AMF0
// encoder writes a struct's fields in order, a map's in random order).
func (t *NetConnectionConnectResult) informationArg() interface{} {
	if len(t.InformationExtra) == 0 {
		return t.Information
	}
	keys := make([]string, 0, len(t.InformationExtra))
	for k := range t.InformationExtra {
		if !informationKeys[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)

	base := reflect.ValueOf(t.Information)
	fields := make([]reflect.StructField, 0, base.NumField()+len(keys))
	for i := 0; i < base.NumField(); i++ {
		fields = append(fields, base.Type().Field(i))
	}
	anyType := reflect.TypeOf((*interface{})(nil)).Elem()
	for i, k := range keys {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("Extra%d", i),
			Type: anyType,
			Tag:  reflect.StructTag("amf0:" + strconv.Quote(k)),
		})
	}
	v := reflect.New(reflect.StructOf(fields)).Elem()
	for i := 0; i < base.NumField(); i++ {
		v.Field(i).Set(base.Field(i))
	}
	for i, k := range keys {
		if x := t.InformationExtra[k]; x != nil {
			v.Field(base.NumField() + i).Set(reflect.ValueOf(x))
		}
	}
	return v.Interface()
}

type NetConnectionCreateStream struct {
}

func (t *NetConnectionCreateStream) FromArgs(args ...interface{}) error {
	// args[0] // Will be nil...
	return nil
}

func (t *NetConnectionCreateStream) ToArgs(ty EncodingType) ([]interface{}, error) {
	return []interface{}{
		nil, // Just null
	}, nil
}

// TODO: fix for error messages
type NetConnectionCreateStreamResult struct {
	StreamID uint32
}

func (t *NetConnectionCreateStreamResult) FromArgs(args ...interface{}) error {
	// args[0] is unknown, ignore
	t.StreamID = args[1].(uint32)

	return nil
}

func (t *NetConnectionCreateStreamResult) ToArgs(ty EncodingType) ([]interface{}, error) {
	return []interface{}{
		nil, // no command object
		t.StreamID,
	}, nil
}

type NetConnectionReleaseStream struct {
	StreamName string
}

func (t *NetConnectionReleaseStream) FromArgs(args ...interface{}) error {
	// args[0] is unknown, ignore
	t.StreamName = args[1].(string)

	return nil
}

func (t *NetConnectionReleaseStream) ToArgs(ty EncodingType) ([]interface{}, error) {
	return []interface{}{
		nil, // no command object
		t.StreamName,
	}, nil
}
