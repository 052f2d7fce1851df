plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.gridbook.example"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.gridbook.example"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1"
        // The ABIs whose libgridbook_mobile.so is in src/main/jniLibs/ (README.md).
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            // JNA and the generated bindings are reached by reflection: keep them.
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // The generated bindings (src/main/java/org/gridbook/mobile/gridbook.kt) call the library
    // through JNA. The @aar carries JNA's own native part (libjnidispatch.so) for every ABI;
    // the plain jar would not load on Android.
    implementation("net.java.dev.jna:jna:5.14.0@aar")
    implementation("androidx.activity:activity-ktx:1.9.3")
    implementation("androidx.lifecycle:lifecycle-runtime-ktx:2.8.7")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
}
