import { createRouter, createWebHistory } from 'vue-router'
import { watch } from 'vue'
import { locale, t, type MessageKey } from './lib/i18n'

// One app, three front ends. Each page is its own chunk, so the mobile app does not load the map
// library of the wall. The Go server answers /wall, /console and /m (and anything below them) with
// index.html; the router picks the page.
export const router = createRouter({
  history: createWebHistory('/'),
  routes: [
    { path: '/', redirect: '/wall' },
    { path: '/wall', component: () => import('./wall/WallPage.vue'), meta: { title: 'wall.docTitle' } },
    { path: '/console/:rest(.*)*', component: () => import('./console/ConsolePage.vue'), meta: { title: 'page.console' } },
    { path: '/m/:rest(.*)*', component: () => import('./mobile/MobileApp.vue'), meta: { title: 'page.mobile' } },
    { path: '/:rest(.*)*', component: () => import('./pages/NotFound.vue'), meta: { title: 'page.notFound' } },
  ],
})

function setTitle(): void {
  const key = router.currentRoute.value.meta.title as MessageKey | undefined
  document.title = key ? `${t(key)} · ${t('app.name')}` : t('app.name')
}

router.afterEach(setTitle)
watch(locale, setTitle)
