module github.com/yutopp/go-amf0

go 1.19

require github.com/stretchr/testify v1.2.2

require (
	github.com/davecgh/go-spew v1.1.0 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
)
