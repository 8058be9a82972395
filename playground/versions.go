// This file pins the npm releases the playground is built from. update-assets.sh
// reads these constants, so they are the single source of truth for both the
// embedded bundle and the CDN URLs.

package playground

// Pinned npm package versions. Changing one requires re-running
// update-assets.sh so the embedded copy matches what CDN mode loads.
const (
	// GraphiQLVersion is the version of the graphiql npm package.
	GraphiQLVersion = "5.4.0"
	// GraphiQLReactVersion is the version of @graphiql/react that GraphiQLVersion depends on.
	GraphiQLReactVersion = "0.39.1"
	// GraphiQLToolkitVersion is the version of @graphiql/toolkit, which provides the fetcher.
	GraphiQLToolkitVersion = "0.12.1"
	// ReactVersion is the version of both react and react-dom.
	ReactVersion = "19.3.1"
	// GraphQLJSVersion is the version of the graphql (graphql-js) package.
	GraphQLJSVersion = "16.15.0"
	// MonacoEditorVersion is the version of monaco-editor, GraphiQL's editor.
	MonacoEditorVersion = "0.52.2"
	// MonacoGraphQLVersion is the version of monaco-graphql, which runs the GraphQL language worker.
	MonacoGraphQLVersion = "1.9.0"
	// EmotionIsPropValidVersion is the version of @emotion/is-prop-valid, an optional
	// dependency that esm.sh builds of GraphiQL import and CDN mode must therefore map.
	EmotionIsPropValidVersion = "1.4.0"
	// esbuildVersion is the bundler update-assets.sh uses; it affects only the embedded bundle.
	esbuildVersion = "0.28.2"
)
