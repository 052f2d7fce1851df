// A minimal Android app around Gridbook's phone library (see README.md). Not built in this
// repository's CI: it needs the Android SDK and NDK.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "gridbook-example"
include(":app")
